"""PNG figures for the model card: training curves, fault-type confusion matrix, lead times, a timeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray

from models.fault.metrics import MachineSeries


def training_curves(history: Sequence[dict[str, float]], best_epoch: int, path: Path) -> Path:
    """Train and validation loss, validation F1 and learning rate per epoch."""
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, f1_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    loss_ax.plot(epochs, [r["train_loss"] for r in history], label="train loss")
    loss_ax.plot(epochs, [r["val_loss"] for r in history], label="val loss")
    loss_ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"best epoch {best_epoch}")
    loss_ax.set_xlabel("epoch")
    loss_ax.legend()
    f1_ax.plot(
        epochs, [r["val_f1"] for r in history], color="tab:green", label="val window F1 (best threshold)"
    )
    f1_ax.set_xlabel("epoch")
    f1_ax.set_ylim(0, 1)
    lr_ax = f1_ax.twinx()
    lr_ax.plot(
        epochs, [r["lr"] for r in history], color="tab:red", lw=1, label="learning rate (end of epoch)"
    )
    lr_ax.set_ylabel("lr")
    f1_ax.legend(loc="lower left", fontsize=8)
    lr_ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def confusion(matrix: NDArray[np.integer], class_names: Sequence[str], title: str, path: Path) -> Path:
    """Row-normalized confusion matrix with counts."""
    counts = np.asarray(matrix, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    for i, j in np.ndindex(counts.shape):
        if counts[i, j]:
            color = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def lead_times(leads_h: dict[str, Sequence[float]], path: Path) -> Path:
    """Histogram of lead times (failure minus first alarm) per evaluation set."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    values = [list(v) for v in leads_h.values()]
    top = max([max(v) for v in values if v] + [1.0])
    bins = np.linspace(0.0, top, 25).tolist()
    for name, leads in leads_h.items():
        ax.hist(leads, bins=bins, alpha=0.55, label=f"{name} (n={len(leads)})")
    ax.set_xlabel("lead time before failure [h]")
    ax.set_ylabel("faults")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def timeline(series: MachineSeries, enter: float, exit_: float, alarm: NDArray[np.bool_], path: Path) -> Path:
    """One machine: fail probability, thresholds, alarm and the fault periods."""
    fig, ax = plt.subplots(figsize=(10, 3))
    hours = series.t_s / 3600.0
    ax.plot(hours, series.prob, lw=0.8, label="fail probability")
    ax.axhline(enter, color="tab:red", ls="--", lw=0.8, label="enter")
    ax.axhline(exit_, color="tab:orange", ls="--", lw=0.8, label="exit")
    ax.fill_between(hours, 0, 1, where=alarm, color="tab:red", alpha=0.15, label="alarm on")
    for event in series.events:
        ax.axvspan(event.onset_s / 3600.0, event.failure_s / 3600.0, color="grey", alpha=0.15)
        ax.axvline(event.failure_s / 3600.0, color="black", lw=1)
    ax.set_xlabel("hours (grey: degradation, black line: failure)")
    ax.set_ylim(0, 1.02)
    ax.set_title(series.machine_id)
    ax.legend(loc="upper left", fontsize=7, ncol=4)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
