"""The report's figures (matplotlib, Agg backend): lead-time histogram, latency CDF, per-class P/R bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from iiot.harness.detection_scoring import ClassScore
from iiot.harness.scoring import LatencyStats

DPI = 110


def _pyplot() -> Any:
    """pyplot on the Agg backend (imported when a figure is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def lead_time_histogram(lead_times_s: Sequence[float], path: Path, *, title: str = "") -> Path | None:
    """Histogram of lead times in minutes; None when there are none."""
    if not lead_times_s:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    minutes = np.asarray(lead_times_s) / 60.0
    ax.hist(minutes, bins=min(20, max(5, len(minutes))), color="#3a7bd5", edgecolor="white")
    ax.axvline(
        float(np.median(minutes)),
        color="#d9534f",
        linestyle="--",
        label=f"median {np.median(minutes):.1f} min",
    )
    ax.set_xlabel("lead time before failure [min]")
    ax.set_ylabel("faults")
    ax.set_title(title or "Alert lead time before failure")
    ax.legend()
    return _save(fig, path)


def latency_cdf(series: Mapping[str, LatencyStats], path: Path) -> Path | None:
    """Empirical CDFs of the latency series, log time axis; None when all are empty."""
    drawn = {name: s for name, s in series.items() if s.values}
    if not drawn:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, stats in drawn.items():
        values = np.sort(np.maximum(np.asarray(stats.values), 1e-3))
        ax.step(
            values,
            np.arange(1, values.size + 1) / values.size,
            where="post",
            label=f"{name} (n={stats.count})",
        )
    for q in (0.5, 0.95, 0.99):
        ax.axhline(q, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("latency from the twin's emission [s]")
    ax.set_ylabel("share")
    ax.set_ylim(0, 1.01)
    ax.set_title("Latency CDF")
    ax.legend(loc="lower right")
    return _save(fig, path)


def precision_recall_bars(classes: Sequence[ClassScore], path: Path, *, iou_min: float = 0.5) -> Path | None:
    """Precision and recall per class as grouped bars; None without classes."""
    if not classes:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(classes) + 2), 3.6))
    x = np.arange(len(classes))
    precision = [c.precision or 0.0 for c in classes]
    recall = [c.recall or 0.0 for c in classes]
    ax.bar(x - 0.2, precision, 0.4, label="precision", color="#3a7bd5")
    ax.bar(x + 0.2, recall, 0.4, label="recall", color="#5cb85c")
    ax.set_xticks(x, [c.class_name for c in classes], rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Detection per class (IoU >= {iou_min:g})")
    ax.legend()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path
