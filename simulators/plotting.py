"""Plot one machine's sensor traces and labels, with fault onset, failure and maintenance marked."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulators.errors import SimulatorError
from simulators.faults import FAULT_NAMES
from simulators.plant import PlantSpec
from simulators.records import TwinEvent
from simulators.scenario import Scenario
from simulators.twin import Twin

MAX_POINTS = 4000
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("temperature [°C]", ("temperature_c",)),
    ("current [A]", ("current_a",)),
    ("speed [rpm]", ("speed_rpm",)),
    ("vibration RMS [g]", ("vib_rms_g",)),
    ("kurtosis / crest", ("vib_kurtosis", "vib_crest")),
    ("band levels", ("vib_1x_g", "vib_2x_g", "vib_bpfo_env", "vib_bpfi_env")),
    ("pressure [bar]", ("pressure_bar",)),
    ("flow [m³/h]", ("flow_m3h",)),
)
EVENT_STYLE = {
    "fault_onset": ("tab:orange", "--"),
    "failure": ("tab:red", "-"),
    "maintenance": ("tab:green", ":"),
}


@dataclass(frozen=True, slots=True)
class MachineTrace:
    """One machine's samples and labels over a run, downsampled for plotting."""

    machine_id: str
    kind: str
    t_s: np.ndarray
    channels: tuple[str, ...]
    values: np.ndarray
    health: np.ndarray
    rul_s: np.ndarray
    fault: np.ndarray
    events: tuple[TwinEvent, ...]


def _window_mean(array: np.ndarray, per: int) -> np.ndarray:
    usable = (array.shape[0] // per) * per
    shaped = array[:usable].reshape(usable // per, per, *array.shape[1:]).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(shaped, axis=1)


def record_trace(
    plant: PlantSpec,
    machine_id: str,
    seed: int,
    duration_s: float,
    scenario: Scenario | None = None,
    progress: Callable[[float], None] | None = None,
) -> MachineTrace:
    """Run the twin and keep one machine's samples, labels and events."""
    twin = Twin(plant, seed, scenario=scenario)
    try:
        index = twin.index.position(machine_id)
    except KeyError as exc:
        raise SimulatorError(f"machine {machine_id!r} is not in plant {plant.name!r}") from exc
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("values", "health", "rul", "fault")}
    events: list[TwinEvent] = []
    end_step = round(duration_s / twin.dt_s)
    channels: tuple[str, ...] = ()
    while twin.step < end_step:
        block = twin.step_block()
        batch = block.machine_batch(index)
        channels = batch.channels
        parts["values"].append(batch.values)
        parts["health"].append(batch.health)
        parts["rul"].append(batch.rul_s)
        parts["fault"].append(batch.fault)
        events += [e for e in block.events if e.machine_id == machine_id]
        if progress is not None:
            progress(block.steps * twin.dt_s)
    values = np.concatenate(parts["values"])
    per = max(1, int(np.ceil(values.shape[0] / MAX_POINTS)))
    fault = np.concatenate(parts["fault"])
    return MachineTrace(
        machine_id=machine_id,
        kind=twin.index.kinds[index],
        t_s=(np.arange(values.shape[0] // per) * per + per) * twin.dt_s,
        channels=channels,
        values=_window_mean(values, per),
        health=_window_mean(np.concatenate(parts["health"]), per),
        rul_s=_window_mean(np.concatenate(parts["rul"]), per),
        fault=fault[per - 1 :: per][: values.shape[0] // per],
        events=tuple(events),
    )


def plot_trace(trace: MachineTrace, out: str | Path, epoch_ms: int) -> Path:
    """Draw the trace's channels, health and RUL in stacked panels with events marked; write a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(title, [c for c in names if c in trace.channels]) for title, names in PANELS]
    panels = [(title, names) for title, names in panels if names]
    rows = len(panels) + 1
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.6 * rows + 1), sharex=True)
    minutes = trace.t_s / 60.0
    for ax, (title, names) in zip(axes, panels, strict=False):
        for name in names:
            series = trace.values[:, trace.channels.index(name)]
            finite = np.isfinite(series)  # slow sensors leave windows without a sample
            ax.plot(minutes[finite], series[finite], lw=0.8, label=name)
        ax.set_ylabel(title, fontsize=8)
        if len(names) > 1:
            ax.legend(fontsize=7, loc="upper left", ncol=len(names))
        ax.grid(alpha=0.3)
    ax_health = axes[-1]
    ax_health.plot(minutes, trace.health, color="black", lw=1.2, label="health index")
    ax_health.set_ylim(-0.05, 1.05)
    ax_health.set_ylabel("health", fontsize=8)
    ax_rul = ax_health.twinx()
    rul_min = np.where(trace.fault > 0, trace.rul_s / 60.0, np.nan)
    ax_rul.plot(minutes, rul_min, color="tab:purple", lw=1.0, label="RUL [min]")
    ax_rul.set_ylabel("RUL [min] (while a fault is active)", fontsize=8, color="tab:purple")
    ax_health.set_xlabel("simulated time [min]")
    for event in trace.events:
        colour, style = EVENT_STYLE.get(event.kind, ("grey", "-."))
        at = (event.t_ms - epoch_ms) / 60000.0
        for ax in axes:
            ax.axvline(at, color=colour, ls=style, lw=1.2)
        axes[0].annotate(
            f"{event.kind} {event.fault or ''}".strip(),
            (at, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color=colour,
            rotation=0,
            va="bottom",
            ha="left",
        )
    faults = sorted({FAULT_NAMES[int(f)] for f in np.unique(trace.fault) if f})
    fig.suptitle(f"{trace.machine_id} ({trace.kind}) — faults: {', '.join(faults) or 'none'}", y=0.995)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
