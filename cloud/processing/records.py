"""Frozen records that the processing core takes and returns; adapters map them to and from proto."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal

# Evidence attached to an alert: ordered (name, value) pairs, immutable and easy to serialize.
Evidence = tuple[tuple[str, float | str], ...]

SYSTEM = "system"


class Severity(IntEnum):
    """Alert severity (iiot.v1.Severity), ordered so that escalation is a comparison."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """Lower-case name used in storage and on the wire."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Severity from its name, any case."""
        return cls[text.strip().upper()]


class AlertState(StrEnum):
    """Lifecycle state of one alert episode."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    CLEARED = "cleared"


class ActionKind(StrEnum):
    """What happened to an alert: system transitions and operator actions."""

    RAISE = "raise"
    ESCALATE = "escalate"
    REOPEN = "reopen"
    ACK = "ack"
    NOTE = "note"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    CLEAR = "clear"


OPERATOR_ACTIONS = frozenset(
    {ActionKind.ACK, ActionKind.NOTE, ActionKind.SHELVE, ActionKind.UNSHELVE, ActionKind.CLEAR}
)


# ----------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    """One sensor sample of one machine at its event time (ms since the epoch)."""

    machine_id: str
    metric: str
    ts_ms: int
    value: float
    edge_node: str = ""
    group: str = ""
    unit: str = ""
    historical: bool = False
    stale: bool = False


@dataclass(frozen=True, slots=True)
class PredictionPoint:
    """The fault predictor's probability of any fault on one machine, at the window's last sample time."""

    machine_id: str
    ts_ms: int
    probability: float
    fault_type: str = ""
    rul_s: float | None = None
    model: str = ""
    model_version: str = ""
    edge_node: str = ""
    group: str = ""
    line_id: str = ""


@dataclass(frozen=True, slots=True)
class DetectionBox:
    """One detected object: class name, confidence and a normalized xywh box."""

    label: str
    score: float
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0


@dataclass(frozen=True, slots=True)
class Inspection:
    """One camera frame inspected on a line, with the objects found in it."""

    line_id: str
    camera_id: str
    ts_ms: int
    boxes: tuple[DetectionBox, ...] = ()
    machine_id: str = ""
    edge_node: str = ""
    group: str = ""
    frame_seq: int = 0
    model_version: str = ""


NodeEventKind = Literal["birth", "death", "data"]


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """A Sparkplug edge node's session event: birth, death, or any data seen from it."""

    group: str
    edge_node: str
    ts_ms: int
    kind: NodeEventKind
    bd_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """Event time has reached ``ts_ms``: expire shelves and detect stale nodes."""

    ts_ms: int


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """An operator's action on one alert, with who and when (ms)."""

    alert_id: str
    action: ActionKind
    who: str
    at_ms: int
    note: str = ""
    until_ms: int | None = None
    request_id: str = ""


# ----------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Statistics of one metric of one machine over one event-time window."""

    machine_id: str
    metric: str
    window: str
    start_ms: int
    end_ms: int
    count: int
    mean: float
    min: float
    max: float
    std: float
    window_id: str
    final: bool = True


@dataclass(frozen=True, slots=True)
class ConditionRaised:
    """A rule says the condition (source, kind) holds, with a severity and its evidence."""

    source: str
    kind: str
    severity: Severity
    ts_ms: int
    message: str = ""
    evidence: Evidence = ()


@dataclass(frozen=True, slots=True)
class ConditionCleared:
    """A rule says the condition (source, kind) no longer holds."""

    source: str
    kind: str
    ts_ms: int
    message: str = ""


Condition = ConditionRaised | ConditionCleared


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One entry of an alert's history: what, who, when, and an optional note or shelve deadline."""

    action: ActionKind
    who: str
    at_ms: int
    note: str = ""
    until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert episode of (source, kind); ``revision`` grows with every emitted update."""

    alert_id: str
    source: str
    kind: str
    severity: Severity
    state: AlertState
    episode_start_ms: int
    last_raised_ms: int
    updated_ms: int
    count: int = 1
    message: str = ""
    evidence: Evidence = ()
    cleared_ms: int | None = None
    shelved_until_ms: int | None = None
    history: tuple[ActionRecord, ...] = ()
    revision: int = 1
    key: str = ""  # the partition key (Kafka key) whose state owns the alert; set by the processor

    @property
    def is_open(self) -> bool:
        """Whether the episode is still open (not cleared)."""
        return self.state is not AlertState.CLEARED


# ----------------------------------------------------------------------------------- sources


def machine_source(machine_id: str) -> str:
    """Alert source naming a machine."""
    return f"machine/{machine_id}"


def camera_source(line_id: str, camera_id: str) -> str:
    """Alert source naming a camera on a line."""
    return f"camera/{line_id}/{camera_id}"


def node_source(group: str, edge_node: str) -> str:
    """Alert source naming a Sparkplug edge node."""
    return f"node/{group}/{edge_node}"
