"""The demo's terminal view: plain ANSI, redrawn about once a second; one log line per period when not a TTY.

``render`` and ``status_line`` are pure (a ``ViewState`` in, text out); ``TerminalView`` only writes.
No curses: the view moves the cursor home, rewrites each line and clears what is left.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

RESET, BOLD, DIM = "\x1b[0m", "\x1b[1m", "\x1b[2m"
RED, YELLOW, GREEN, CYAN = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[36m"
HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


@dataclass(frozen=True, slots=True)
class MachineRow:
    """One machine: the twin's truth beside the model's view of it."""

    machine_id: str
    line_id: str
    kind: str = ""
    health: float | None = None
    truth_fault: str | None = None
    running: bool = True
    probability: float | None = None
    predicted: str = ""
    rul_s: float | None = None
    status: str = "NO DATA"
    open_alerts: int = 0


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One open alert."""

    severity: str
    source: str
    message: str
    raised_ms: int
    state: str = "active"


@dataclass(frozen=True, slots=True)
class ViewState:
    """Everything one frame of the view shows."""

    uptime_s: float
    phase: str
    sim_ms: int
    speed: float
    dashboard_url: str
    login: str
    data_path: str
    machines: Sequence[MachineRow] = ()
    alerts: Sequence[AlertRow] = ()
    frames: int = 0
    defective_frames: int = 0
    inspected: int = 0
    pipelines: Sequence[str] = ()
    events: Sequence[str] = field(default_factory=tuple)
    first_alert_s: float | None = None
    live: bool = True


def _clock(ms: int) -> str:
    if ms <= 0:
        return "--:--:--"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S")


def _rul(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 48 * 3600:
        return ">48h"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m"


def _bar(value: float | None, width: int = 10) -> str:
    if value is None:
        return " " * width
    filled = max(0, min(width, round(value * width)))
    return "█" * filled + "·" * (width - filled)


def _paint(text: str, colour: str, color: bool) -> str:
    return f"{colour}{text}{RESET}" if color else text


def _status_colour(status: str) -> str:
    return {"OK": GREEN, "WATCH": YELLOW, "ALARM": RED, "CRITICAL": RED}.get(status, DIM)


def render(state: ViewState, color: bool = True) -> list[str]:
    """The lines of one frame of the view."""
    p = lambda text, colour: _paint(text, colour, color)  # noqa: E731
    first = f" · first alert after {state.first_alert_s:.0f} s" if state.first_alert_s is not None else ""
    pace = f"at {state.speed:g}×" if state.live else "(as fast as it goes)"
    lines = [
        p(f"iiot demo — {state.phase}", BOLD)
        + f"   sim {_clock(state.sim_ms)} UTC {pace}   up {state.uptime_s:.0f} s{first}",
        f"dashboard {p(state.dashboard_url, CYAN)}  login {state.login}   data {state.data_path}",
        "  ".join(state.pipelines),
        "",
        p(
            f"{'machine':<12}{'line':<8}{'twin health':<23}{'twin fault':<17}"
            f"{'model p(fault)':<32}{'RUL':>6}  status",
            BOLD,
        ),
    ]
    for m in state.machines:
        health = "" if m.health is None else f"{_bar(m.health)} {m.health:4.2f}"
        truth = (m.truth_fault or "-") if m.running else f"{m.truth_fault or '-'} (down)"
        prob = "" if m.probability is None else f"{_bar(m.probability)} {m.probability:4.2f} {m.predicted}"
        status = m.status + (f" ({m.open_alerts} alert{'s' * (m.open_alerts > 1)})" if m.open_alerts else "")
        lines.append(
            f"{m.machine_id:<12}{m.line_id:<8}{health:<23}{truth[:16]:<17}{prob[:31]:<32}"
            f"{_rul(m.rul_s):>6}  {p(status, _status_colour(m.status))}"
        )
    rate = f"{state.defective_frames / state.frames:.0%}" if state.frames else "-"
    lines += [
        "",
        f"camera: {state.frames} parts rendered live, {rate} with defects (truth); "
        f"{state.inspected} inspected by the detector",
        "",
        p(f"open alerts ({len(state.alerts)})", BOLD),
    ]
    for a in list(state.alerts)[:8]:
        colour = RED if a.severity == "critical" else YELLOW
        severity = f"{a.severity.upper():<9}"
        lines.append(f"  {p(severity, colour)} {_clock(a.raised_ms)}  {a.source:<22} {a.message}")
    if not state.alerts:
        lines.append(p("  none yet", DIM))
    if state.events:
        lines += ["", p("recent", BOLD)] + [f"  {e}" for e in list(state.events)[-6:]]
    lines += ["", p("Ctrl-C stops everything.", DIM)]
    return lines


def status_line(state: ViewState) -> str:
    """One line for logs: phase, alerts and the machines that are not OK."""
    worst = [
        f"{m.machine_id} p={m.probability:.2f}"
        for m in state.machines
        if m.probability is not None and m.status not in ("OK", "NO DATA")
    ]
    return (
        f"[{state.uptime_s:5.0f} s] {state.phase}, sim {_clock(state.sim_ms)}: "
        f"{len(state.alerts)} open alert(s); {', '.join(worst) or 'all machines OK'}; "
        f"{state.frames} parts, {state.inspected} inspected"
    )


class TerminalView:
    """Redraws the view in place on a terminal."""

    def __init__(self, out: TextIO | None = None, color: bool = True) -> None:
        self.out = out or sys.stdout
        self.color = color
        self._drawn = False

    def draw(self, state: ViewState) -> None:
        """Rewrite the screen with ``state``."""
        size = shutil.get_terminal_size((100, 30))
        lines = render(state, self.color)[: max(5, size.lines - 1)]
        head = HIDE_CURSOR + (HOME + CLEAR_BELOW if not self._drawn else HOME)
        body = "".join(f"{line}{CLEAR_LINE}\n" for line in lines)
        self.out.write(head + body + CLEAR_BELOW)
        self.out.flush()
        self._drawn = True

    def close(self) -> None:
        """Give the cursor back."""
        if self._drawn:
            self.out.write(SHOW_CURSOR)
            self.out.flush()
