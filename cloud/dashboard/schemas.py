"""The JSON shapes of the API (pydantic models), which FastAPI documents in the OpenAPI schema.

Times are event times in ms since the epoch; ``now_ms`` in each answer is the server's reference
time (the wall clock, or the plant's newest event time when the twin runs ahead of it), so a
client computes ages as ``now_ms - time`` without trusting its own clock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HealthLevel = Literal["ok", "watch", "alarm", "critical", "unknown"]
Shape = Literal["circle", "triangle", "diamond", "octagon", "ring"]
NodeStatusName = Literal["online", "stale", "offline"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Health(_Model):
    """A status as level, words and shape, so that colour is never the only cue."""

    level: HealthLevel
    label: str = Field(description="OK, WATCH, ALARM, CRITICAL or NO DATA")
    shape: Shape
    rank: int = Field(description="worse is higher: ok 0, no data 1, watch 2, alarm 3, critical 4")


class Reading(_Model):
    """The newest sample of one metric."""

    metric: str
    value: float
    unit: str = ""
    ts_ms: int
    stale: bool = False
    limit: Literal["", "high", "low"] = Field("", description="outside its alarm limit, and on which side")


class MachineTile(_Model):
    """One machine on the plant overview."""

    machine_id: str
    line_id: str
    group: str = ""
    edge_node: str = ""
    health: Health
    probability: float | None = Field(None, description="predicted probability of any fault, 0..1")
    fault_type: str = ""
    rul_s: float | None = Field(None, description="remaining useful life in seconds")
    rul_text: str = ""
    model: str = ""
    model_version: str = ""
    updated_ms: int | None = None
    stale: bool = False
    open_alerts: int = 0
    top_severity: str | None = None
    readings: list[Reading] = []


class LineSummary(_Model):
    """One production line and its machines, worst first."""

    line_id: str
    health: Health
    machines: list[MachineTile]
    defect_rate: float | None = None


class Overview(_Model):
    """The plant overview."""

    now_ms: int
    watermark_ms: int | None
    lines: list[LineSummary]
    counts: dict[str, int] = Field(description="machines per health level")
    active_alerts: int
    critical_alerts: int


class MachineList(_Model):
    """All machines, for SCADA and MES clients."""

    now_ms: int
    machines: list[MachineTile]


class HistoryEntry(_Model):
    """Who did what to an alert, and when."""

    action: str
    who: str
    at_ms: int
    note: str = ""
    until_ms: int | None = None


class AlertView(_Model):
    """One alert, newest revision."""

    alert_id: str
    source: str
    subject: str = Field(description="the machine, camera or edge node the alert is about")
    subject_kind: str
    machine_id: str | None = None
    kind: str
    title: str
    severity: Literal["info", "warning", "critical"]
    state: Literal["active", "acknowledged", "shelved", "cleared"]
    count: int
    message: str
    episode_start_ms: int
    last_raised_ms: int
    updated_ms: int
    cleared_ms: int | None = None
    shelved_until_ms: int | None = None
    revision: int
    evidence: dict[str, float | str] = {}
    history: list[HistoryEntry] = []
    actions: list[str] = Field([], description="operator actions that apply in this state")


class AlertList(_Model):
    """Alerts matching a state filter, most severe and newest first."""

    now_ms: int
    state: str
    total: int
    by_severity: dict[str, int]
    alerts: list[AlertView]


class AlertRevisions(_Model):
    """Every stored revision of one alert (the audit trail)."""

    alert_id: str
    revisions: list[AlertView]


class Limits(_Model):
    """A metric's alarm limits, drawn on its chart."""

    low: float | None = None
    high: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    unit: str = ""


class Trend(_Model):
    """A metric's samples over the chart window, at most a few hundred points."""

    metric: str
    unit: str = ""
    points: list[tuple[int, float]]
    limits: Limits | None = None


class PredictionTrend(_Model):
    """Fault probability history with the alert thresholds, and remaining useful life."""

    points: list[tuple[int, float]]
    rul: list[tuple[int, float]] = []
    enter: float
    exit: float
    critical: float | None = None
    fault_types: list[tuple[int, str]] = Field([], description="(time, fault type) where the type changes")


class MachineDetail(_Model):
    """One machine: status, readings, trends, prediction history, alerts."""

    now_ms: int
    window_ms: int
    tile: MachineTile
    readings: list[Reading]
    trends: list[Trend]
    prediction: PredictionTrend
    alerts: list[AlertView]


class NodeView(_Model):
    """One edge device: session, freshness, models, throughput, store-and-forward backlog."""

    group: str
    edge_node: str
    status: NodeStatusName
    health: Health
    last_seen_ms: int | None = None
    session_event: str = ""
    bd_seq: int | None = None
    models: dict[str, str] = {}
    outbox_depth: float | None = None
    outbox_bytes: float | None = None
    frames_dropped: float | None = None
    fps: float | None = None
    cameras: list[str] = []
    machines: list[str] = []


class Fleet(_Model):
    """The edge fleet."""

    now_ms: int
    watermark_ms: int | None
    stale_after_ms: int
    nodes: list[NodeView]
    counts: dict[str, int]


class BoxView(_Model):
    """A detection box normalized to the image (0..1)."""

    label: str
    score: float
    x: float
    y: float
    w: float
    h: float
    defect: bool


class FrameView(_Model):
    """One inspected frame of the defect feed."""

    frame_id: str
    line_id: str
    camera_id: str
    edge_node: str
    machine_id: str = ""
    ts_ms: int
    defective: bool
    boxes: list[BoxView]
    image_url: str | None = None
    width: int = 0
    height: int = 0
    model_version: str = ""


class CameraRate(_Model):
    """One camera's defect rate over the window."""

    camera_id: str
    edge_node: str
    inspected: int
    defective: int
    rate: float
    fps: float
    model_version: str = ""
    newest_ms: int


class LineDefects(_Model):
    """Defect rate of one line (all its cameras)."""

    line_id: str
    inspected: int
    defective: int
    rate: float
    health: Health
    cameras: list[CameraRate]


class Defects(_Model):
    """The defect feed."""

    now_ms: int
    window_ms: int
    enter_rate: float
    exit_rate: float
    lines: list[LineDefects]
    frames: list[FrameView]


class SessionInfo(_Model):
    """Who is logged in, and the CSRF token every POST must carry in ``X-CSRF-Token``."""

    user: str
    role: Literal["viewer", "operator", "admin"]
    permissions: list[str]
    csrf_token: str
    expires_ms: int | None = None


class LoginBody(_Model):
    """Credentials."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ActionBody(_Model):
    """An operator action on one alert."""

    action: Literal["ack", "note", "shelve", "unshelve", "clear"]
    note: str = Field("", max_length=500)
    shelve_minutes: int | None = Field(None, ge=1, le=1440)


class ActionAccepted(_Model):
    """The action was handed to the pipeline; the new alert state arrives on the live feed."""

    request_id: str
    alert_id: str
    action: str
    who: str
    at_ms: int


class ErrorBody(_Model):
    """What went wrong."""

    error: str
    detail: str
