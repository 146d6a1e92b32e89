"""View models as pure functions: storage records in, the API's JSON shapes (:mod:`schemas`) out.

Status is always level + words + shape (see :data:`HEALTH`), so nothing depends on colour alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from cloud.dashboard.actions import allowed_actions
from cloud.dashboard.frames import DefectFrame
from cloud.dashboard.plant_reader import CameraSummary, DeviceInfo, NodeSession
from cloud.dashboard.schemas import (
    AlertList,
    AlertView,
    BoxView,
    CameraRate,
    FrameView,
    Health,
    HealthLevel,
    HistoryEntry,
    Limits,
    LineDefects,
    LineSummary,
    MachineTile,
    NodeView,
    Overview,
    Reading,
    Trend,
)
from cloud.processing.alert_rules import DefectRateLimits, PredictionRule, ProbabilityThresholds, RangeRule
from cloud.processing.records import Alert, AlertState, PredictionPoint, Severity
from cloud.storage.base import MetricValue, SeriesPoint

HEALTH: Mapping[HealthLevel, Health] = {
    "ok": Health(level="ok", label="OK", shape="circle", rank=0),
    "unknown": Health(level="unknown", label="NO DATA", shape="ring", rank=1),
    "watch": Health(level="watch", label="WATCH", shape="triangle", rank=2),
    "alarm": Health(level="alarm", label="ALARM", shape="diamond", rank=3),
    "critical": Health(level="critical", label="CRITICAL", shape="octagon", rank=4),
}
SEVERITY_LEVEL: Mapping[Severity, HealthLevel] = {
    Severity.INFO: "watch",
    Severity.WARNING: "alarm",
    Severity.CRITICAL: "critical",
}
KIND_TITLES: Mapping[str, str] = {
    "prediction": "Fault predicted",
    "defect_rate": "Defect rate high",
    "node.offline": "Edge node offline",
    "node.stale": "Edge node silent",
}
HIDDEN_METRIC_PREFIXES = ("prediction/", "$session/")
STATE_ORDER: Mapping[AlertState, int] = {
    AlertState.ACTIVE: 0,
    AlertState.SHELVED: 1,
    AlertState.ACKNOWLEDGED: 2,
    AlertState.CLEARED: 3,
}


def worst(levels: Iterable[HealthLevel]) -> HealthLevel:
    """The worst of several levels (ok when there are none)."""
    return max(levels, key=lambda level: HEALTH[level].rank, default="ok")


# ----------------------------------------------------------------------------- alerts


def subject_of(source: str) -> tuple[str, str, str | None]:
    """``(kind, id, machine id)`` of an alert source: ``machine/m1``, ``camera/L1/c1``, ``node/g/e1``."""
    kind, _, rest = source.partition("/")
    return kind or "other", rest or source, rest if kind == "machine" else None


def alert_title(kind: str, subject: str) -> str:
    """Short words for what the alert is about."""
    if kind.startswith("range."):
        what = f"{kind.split('.', 1)[1]} out of range"
    else:
        what = KIND_TITLES.get(kind, kind)
    return f"{what} · {subject}"


def alert_view(alert: Alert) -> AlertView:
    """One alert for the API and the page."""
    subject_kind, subject, machine_id = subject_of(alert.source)
    return AlertView(
        alert_id=alert.alert_id,
        source=alert.source,
        subject=subject,
        subject_kind=subject_kind,
        machine_id=machine_id,
        kind=alert.kind,
        title=alert_title(alert.kind, subject),
        severity=alert.severity.label,  # type: ignore[arg-type]
        state=alert.state.value,
        count=alert.count,
        message=alert.message,
        episode_start_ms=alert.episode_start_ms,
        last_raised_ms=alert.last_raised_ms,
        updated_ms=alert.updated_ms,
        cleared_ms=alert.cleared_ms,
        shelved_until_ms=alert.shelved_until_ms,
        revision=alert.revision,
        evidence=dict(alert.evidence),
        history=[
            HistoryEntry(action=h.action.value, who=h.who, at_ms=h.at_ms, note=h.note, until_ms=h.until_ms)
            for h in alert.history
        ],
        actions=[a.value for a in allowed_actions(alert)],
    )


def alert_sort_key(alert: Alert) -> tuple[int, int, int, str]:
    """Most severe first, then active before shelved before acknowledged, then newest."""
    return (-int(alert.severity), STATE_ORDER[alert.state], -alert.updated_ms, alert.alert_id)


def alert_list(alerts: Iterable[Alert], state: str, now_ms: int) -> AlertList:
    """Alerts in ``state`` (``open`` = all but cleared, ``all``, or one state name)."""
    chosen = [
        a for a in alerts if state == "all" or (state == "open" and a.is_open) or a.state.value == state
    ]
    chosen.sort(key=alert_sort_key)
    by_severity = {s.label: 0 for s in Severity}
    for a in chosen:
        by_severity[a.severity.label] += 1
    return AlertList(
        now_ms=now_ms,
        state=state,
        total=len(chosen),
        by_severity=by_severity,
        alerts=[alert_view(a) for a in chosen],
    )


# ----------------------------------------------------------------------------- machines


def thresholds_for(rule: PredictionRule, machine_id: str) -> ProbabilityThresholds:
    """The prediction thresholds the processor applies to this machine."""
    return rule.by_machine.get(machine_id, rule.default)


def critical_floor(thresholds: ProbabilityThresholds) -> float | None:
    """The lowest probability that is critical, if any band is."""
    floors = [floor for floor, severity in thresholds.bands if severity is Severity.CRITICAL]
    return min(floors) if floors else None


def machine_level(
    probability: float | None,
    thresholds: ProbabilityThresholds,
    alerts: Sequence[Alert],
    *,
    has_data: bool,
    stale: bool,
) -> HealthLevel:
    """Health from the open alerts and the newest prediction; no data or stale data is not OK."""
    levels: list[HealthLevel] = []
    for alert in alerts:
        if alert.state in (AlertState.ACTIVE, AlertState.ACKNOWLEDGED):
            levels.append(SEVERITY_LEVEL[alert.severity])
        elif alert.state is AlertState.SHELVED:
            levels.append("watch")
    if probability is not None:
        floor = critical_floor(thresholds)
        if floor is not None and probability >= floor and probability >= thresholds.enter:
            levels.append("critical")
        elif probability >= thresholds.enter:
            levels.append("alarm")
        elif probability >= thresholds.exit:
            levels.append("watch")
    level = worst(levels)
    if level == "ok" and (not has_data or stale):
        return "unknown"
    return level


def duration_text(seconds: float | None) -> str:
    """``2 d 5 h``, ``5 h 20 min``, ``12 min``, ``40 s``; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    s = int(seconds)
    days, hours, minutes = s // 86_400, s % 86_400 // 3600, s % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{s} s"


def visible_metrics(metrics: Iterable[MetricValue]) -> list[MetricValue]:
    """Sensor metrics (not the prediction or session bookkeeping carried as telemetry)."""
    return [m for m in metrics if not m.metric.startswith(HIDDEN_METRIC_PREFIXES)]


def limit_side(m: MetricValue, ranges: RangeRule) -> Literal["", "high", "low"]:
    """Which alarm limit a sample is beyond, if any."""
    limit = ranges.limit_for(m.metric)
    if limit is None:
        return ""
    if limit.high is not None and m.value > limit.high:
        return "high"
    if limit.low is not None and m.value < limit.low:
        return "low"
    return ""


def closeness(m: MetricValue, ranges: RangeRule) -> float:
    """How near a sample is to its high limit (1.0 = at the limit); -1 without a limit."""
    limit = ranges.limit_for(m.metric)
    if limit is None or limit.high is None or limit.high <= 0:
        return -1.0
    return m.value / limit.high


def reading(m: MetricValue, ranges: RangeRule | None = None) -> Reading:
    """One newest sample, marked when beyond its alarm limit."""
    side = limit_side(m, ranges) if ranges is not None else ""
    return Reading(metric=m.metric, value=m.value, unit=m.unit, ts_ms=m.ts_ms, stale=m.stale, limit=side)


def tile_readings(metrics: Sequence[MetricValue], ranges: RangeRule, limit: int = 3) -> list[Reading]:
    """The few readings a tile shows: those beyond or nearest their alarm limits."""
    ordered = sorted(
        visible_metrics(metrics), key=lambda m: (limit_side(m, ranges) == "", -closeness(m, ranges), m.metric)
    )
    return [reading(m, ranges) for m in ordered[:limit]]


def line_of(
    machine_id: str, prediction: PredictionPoint | None, layout: Mapping[str, str], group: str
) -> str:
    """The machine's line: the layout file, else the predictor's line id, else its Sparkplug group."""
    return layout.get(machine_id) or (prediction.line_id if prediction else "") or group or "plant"


def machine_tile(
    machine_id: str,
    device: DeviceInfo | None,
    prediction: PredictionPoint | None,
    alerts: Sequence[Alert],
    rule: PredictionRule,
    ranges: RangeRule,
    layout: Mapping[str, str],
) -> MachineTile:
    """One machine tile."""
    metrics = device.metrics if device else ()
    sensors = visible_metrics(metrics)
    stale = bool(sensors) and all(m.stale for m in sensors)
    has_data = bool(sensors) or prediction is not None
    probability = prediction.probability if prediction else None
    level = machine_level(
        probability, thresholds_for(rule, machine_id), alerts, has_data=has_data, stale=stale
    )
    open_alerts = [a for a in alerts if a.is_open]
    top = max((a.severity for a in open_alerts), default=None)
    updated = max(
        [
            t
            for t in (device.updated_ms if device else None, prediction.ts_ms if prediction else None)
            if t is not None
        ],
        default=None,
    )
    rul = prediction.rul_s if prediction else None
    fault = prediction.fault_type if prediction and prediction.fault_type not in ("", "normal") else ""
    return MachineTile(
        machine_id=machine_id,
        line_id=line_of(machine_id, prediction, layout, device.group if device else ""),
        group=device.group if device else (prediction.group if prediction else ""),
        edge_node=device.edge_node if device else (prediction.edge_node if prediction else ""),
        health=HEALTH[level],
        probability=probability,
        fault_type=fault,
        rul_s=rul,
        rul_text=duration_text(rul),
        model=prediction.model if prediction else "",
        model_version=prediction.model_version if prediction else "",
        updated_ms=updated,
        stale=stale,
        open_alerts=len(open_alerts),
        top_severity=top.label if top else None,
        readings=tile_readings(metrics, ranges),
    )


def alerts_by_machine(alerts: Iterable[Alert]) -> dict[str, list[Alert]]:
    """Open alerts grouped by the machine they are about."""
    out: dict[str, list[Alert]] = {}
    for alert in alerts:
        _, _, machine_id = subject_of(alert.source)
        if machine_id and alert.is_open:
            out.setdefault(machine_id, []).append(alert)
    return out


def overview(
    tiles: Sequence[MachineTile],
    alerts: Sequence[Alert],
    now_ms: int,
    watermark_ms: int | None,
    line_order: Sequence[str] = (),
    defect_rates: Mapping[str, float] | None = None,
) -> Overview:
    """Lines of machine tiles in a stable order (layout order, else by name), machines by name."""
    lines: dict[str, list[MachineTile]] = {}
    for tile in tiles:
        lines.setdefault(tile.line_id, []).append(tile)
    rank = {line: i for i, line in enumerate(line_order)}
    ordered = sorted(lines, key=lambda line: (rank.get(line, len(rank)), line))
    counts: dict[str, int] = {level: 0 for level in HEALTH}
    for tile in tiles:
        counts[tile.health.level] += 1
    live = [a for a in alerts if a.state is AlertState.ACTIVE]
    return Overview(
        now_ms=now_ms,
        watermark_ms=watermark_ms,
        lines=[
            LineSummary(
                line_id=line,
                health=HEALTH[worst(t.health.level for t in lines[line])],
                machines=sorted(lines[line], key=lambda t: t.machine_id),
                defect_rate=(defect_rates or {}).get(line),
            )
            for line in ordered
        ],
        counts=counts,
        active_alerts=len(live),
        critical_alerts=sum(1 for a in live if a.severity is Severity.CRITICAL),
    )


# ----------------------------------------------------------------------------- charts


def downsample(points: Sequence[tuple[int, float]], max_points: int = 400) -> list[tuple[int, float]]:
    """At most ``max_points``: the min and the max of each bucket, in time order, so spikes survive."""
    if len(points) <= max_points:
        return list(points)
    buckets = max_points // 2
    size = len(points) / buckets
    out: list[tuple[int, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        out.extend(sorted({low, high}))
    return out


def trend(metric: str, unit: str, series: Sequence[SeriesPoint], ranges: RangeRule) -> Trend:
    """A metric's chart with its alarm limits."""
    limit = ranges.limit_for(metric)
    limits = None
    if limit is not None:
        limits = Limits(
            low=limit.low,
            high=limit.high,
            critical_low=limit.critical_low,
            critical_high=limit.critical_high,
            unit=limit.unit,
        )
    return Trend(
        metric=metric, unit=unit, points=downsample([(p.ts_ms, p.value) for p in series]), limits=limits
    )


def fault_changes(predictions: Sequence[PredictionPoint]) -> list[tuple[int, str]]:
    """(time, fault type) wherever the predicted fault type changes."""
    out: list[tuple[int, str]] = []
    for p in predictions:
        if not out or out[-1][1] != p.fault_type:
            out.append((p.ts_ms, p.fault_type))
    return out


# ----------------------------------------------------------------------------- fleet


def node_view(
    group: str,
    edge_node: str,
    session: NodeSession | None,
    node_metrics: Sequence[MetricValue],
    devices: Sequence[DeviceInfo],
    predictions: Sequence[PredictionPoint],
    cameras: Sequence[CameraSummary],
    alerts: Sequence[Alert],
    watermark_ms: int | None,
    stale_after_ms: int,
) -> NodeView:
    """One edge node: offline after a death certificate, stale when silent too long in event time."""
    times = [m.ts_ms for d in devices for m in d.metrics] + [m.ts_ms for m in node_metrics]
    times += [c.newest_ms for c in cameras] + ([session.ts_ms] if session else [])
    last_seen = max(times, default=None)
    kinds = {a.kind for a in alerts if a.is_open}
    if "node.offline" in kinds or (
        session is not None and not session.online and session.ts_ms >= (last_seen or 0)
    ):
        status, level = "offline", "critical"
    elif "node.stale" in kinds or (
        watermark_ms is not None and last_seen is not None and watermark_ms - last_seen > stale_after_ms
    ):
        status, level = "stale", "alarm"
    else:
        status, level = "online", "ok"
    health = HEALTH[level].model_copy(update={"label": status.upper()})  # type: ignore[index]
    values = {m.metric: m.value for m in node_metrics}
    models: dict[str, str] = {}
    for p in sorted(predictions, key=lambda p: p.ts_ms):
        if p.model or p.model_version:
            models[p.model or "fault"] = p.model_version
    for c in cameras:
        if c.model_version:
            models["detector"] = c.model_version
    fps = sum(c.fps for c in cameras) if cameras else None
    return NodeView(
        group=group,
        edge_node=edge_node,
        status=status,  # type: ignore[arg-type]
        health=health,
        last_seen_ms=last_seen,
        session_event=session.event if session else "",
        bd_seq=session.bd_seq if session else None,
        models=models,
        outbox_depth=values.get("Outbox/messages"),
        outbox_bytes=values.get("Outbox/bytes"),
        frames_dropped=values.get("Frames/dropped"),
        fps=round(fps, 2) if fps is not None else None,
        cameras=sorted(f"{c.line_id}/{c.camera_id}" for c in cameras),
        machines=sorted(d.device_id for d in devices if d.kind == "machine"),
    )


# ----------------------------------------------------------------------------- defects


def frame_view(frame: DefectFrame, limits: DefectRateLimits, image_url: str | None) -> FrameView:
    """One frame of the defect feed."""
    return FrameView(
        frame_id=frame.frame_id,
        line_id=frame.line_id,
        camera_id=frame.camera_id,
        edge_node=frame.edge_node,
        machine_id=frame.machine_id,
        ts_ms=frame.ts_ms,
        defective=frame.defective(limits),
        boxes=[
            BoxView(
                label=b.label,
                score=round(b.score, 3),
                x=b.x,
                y=b.y,
                w=b.w,
                h=b.h,
                defect=b.label not in limits.good_labels and b.score >= limits.min_score,
            )
            for b in frame.boxes
        ],
        image_url=image_url if frame.crop_jpeg else None,
        width=frame.width,
        height=frame.height,
        model_version=frame.model_version,
    )


def line_defects(cameras: Sequence[CameraSummary], limits: DefectRateLimits) -> list[LineDefects]:
    """Defect rate per line, from its cameras; levels follow the processor's enter and critical rates."""
    by_line: dict[str, list[CameraSummary]] = {}
    for c in cameras:
        by_line.setdefault(c.line_id, []).append(c)
    out = []
    for line, cams in sorted(by_line.items()):
        inspected = sum(c.inspected for c in cams)
        defective = sum(c.defective for c in cams)
        rate = defective / inspected if inspected else 0.0
        if not inspected:
            level: HealthLevel = "unknown"
        elif rate >= limits.critical_rate:
            level = "critical"
        elif rate >= limits.enter_rate:
            level = "alarm"
        elif rate > limits.exit_rate:
            level = "watch"
        else:
            level = "ok"
        out.append(
            LineDefects(
                line_id=line,
                inspected=inspected,
                defective=defective,
                rate=rate,
                health=HEALTH[level],
                cameras=[
                    CameraRate(
                        camera_id=c.camera_id,
                        edge_node=c.edge_node,
                        inspected=c.inspected,
                        defective=c.defective,
                        rate=c.rate,
                        fps=round(c.fps, 2),
                        model_version=c.model_version,
                        newest_ms=c.newest_ms,
                    )
                    for c in sorted(cams, key=lambda c: c.camera_id)
                ],
            )
        )
    return out
