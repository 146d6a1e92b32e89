"""Mapping between the wire contract (proto iiot.v1 messages) and the processing records.

Adapters call these at the rim; the processing core never sees protobuf. Tables are
declarative: alert kinds, severities, states and action kinds map one to one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from cloud.errors import DecodeError
from cloud.processing.records import (
    SYSTEM,
    ActionKind,
    ActionRecord,
    Alert,
    AlertState,
    DetectionBox,
    Inspection,
    NodeEvent,
    OperatorAction,
    PredictionPoint,
    Severity,
    TelemetryPoint,
)
from proto import messages as m

# Node session events travel on the telemetry topic as records with these metric names,
# keyed by the node (see docs/CLOUD.md): birth and death carry bdSeq as int_value.
SESSION_PREFIX = "$session/"
SESSION_BIRTH = SESSION_PREFIX + "birth"
SESSION_DEATH = SESSION_PREFIX + "death"
SESSION_DATA = SESSION_PREFIX + "data"
_SESSION_KINDS = {SESSION_BIRTH: "birth", SESSION_DEATH: "death", SESSION_DATA: "data"}

# alert kind prefix (our rule names) -> proto AlertKind
ALERT_KINDS: Mapping[str, m.AlertKind] = {
    "prediction": m.AlertKind.ALERT_KIND_PREDICTION,
    "defect_rate": m.AlertKind.ALERT_KIND_DEFECT_RATE,
    "range": m.AlertKind.ALERT_KIND_OUT_OF_RANGE,
    "node.offline": m.AlertKind.ALERT_KIND_NODE_OFFLINE,
    "node.stale": m.AlertKind.ALERT_KIND_DATA_STALE,
}
SEVERITIES: Mapping[Severity, m.Severity] = {
    Severity.INFO: m.Severity.SEVERITY_INFO,
    Severity.WARNING: m.Severity.SEVERITY_WARNING,
    Severity.CRITICAL: m.Severity.SEVERITY_CRITICAL,
}
STATES: Mapping[AlertState, m.AlertState] = {
    AlertState.ACTIVE: m.AlertState.ALERT_STATE_ACTIVE,
    AlertState.ACKNOWLEDGED: m.AlertState.ALERT_STATE_ACKNOWLEDGED,
    AlertState.SHELVED: m.AlertState.ALERT_STATE_SHELVED,
    AlertState.CLEARED: m.AlertState.ALERT_STATE_CLEARED,
}
ACTIONS: Mapping[ActionKind, m.AlertActionKind] = {
    ActionKind.ACK: m.AlertActionKind.ALERT_ACTION_KIND_ACK,
    ActionKind.NOTE: m.AlertActionKind.ALERT_ACTION_KIND_NOTE,
    ActionKind.SHELVE: m.AlertActionKind.ALERT_ACTION_KIND_SHELVE,
    ActionKind.UNSHELVE: m.AlertActionKind.ALERT_ACTION_KIND_UNSHELVE,
    ActionKind.CLEAR: m.AlertActionKind.ALERT_ACTION_KIND_CLEAR,
}
# System transitions without a proto action kind travel as a note by "system": "raise: message".
SYSTEM_NOTES = (ActionKind.RAISE, ActionKind.ESCALATE, ActionKind.REOPEN)
SOURCE_KINDS: Mapping[str, m.SourceKind] = {
    "machine": m.SourceKind.SOURCE_KIND_MACHINE,
    "camera": m.SourceKind.SOURCE_KIND_CAMERA,
    "node": m.SourceKind.SOURCE_KIND_EDGE_NODE,
    "line": m.SourceKind.SOURCE_KIND_LINE,
}

_SEVERITY_BACK = {v: k for k, v in SEVERITIES.items()}
_STATE_BACK = {v: k for k, v in STATES.items()}
_ACTION_BACK = {v: k for k, v in ACTIONS.items()}
_SOURCE_BACK = {v: k for k, v in SOURCE_KINDS.items()}


# ----------------------------------------------------------------------------- inputs


def telemetry_events(batch: m.TelemetryBatch) -> Iterator[TelemetryPoint | NodeEvent]:
    """Numeric samples and node session events of one batch (text and null values are skipped)."""
    for r in batch.records:
        session = _SESSION_KINDS.get(r.metric)
        if session is not None:
            bd_seq = r.int_value if r.WhichOneof("value") == "int_value" else None
            yield NodeEvent(r.group_id, r.edge_node, r.timestamp_ms, session, bd_seq)  # type: ignore[arg-type]
            continue
        which = r.WhichOneof("value")
        if which == "double_value":
            value = r.double_value
        elif which == "int_value":
            value = float(r.int_value)
        elif which == "bool_value":
            value = 1.0 if r.bool_value else 0.0
        else:
            continue
        yield TelemetryPoint(
            machine_id=r.machine_id or r.device_id or r.edge_node,
            metric=r.metric,
            ts_ms=r.timestamp_ms,
            value=value,
            edge_node=r.edge_node,
            group=r.group_id,
            unit=r.unit,
            historical=r.historical,
            stale=r.stale,
        )


def prediction_point(p: m.Prediction) -> PredictionPoint:
    """The processing view of a fault prediction."""
    return PredictionPoint(
        machine_id=p.machine_id,
        ts_ms=p.timestamp_ms,
        probability=p.fault_probability,
        fault_type=p.fault_type,
        rul_s=p.rul_seconds if p.HasField("rul_seconds") else None,
        model=p.model.name,
        model_version=p.model.version,
        edge_node=p.edge_node,
        group=p.group_id,
        line_id=p.line_id,
    )


def inspection(e: m.DetectionEvent) -> Inspection:
    """The processing view of one inspected frame; boxes normalized to the image size."""
    w = float(e.image_width or 1)
    h = float(e.image_height or 1)
    boxes = tuple(
        DetectionBox(
            d.class_name or str(d.class_id),
            d.score,
            d.box.x1 / w,
            d.box.y1 / h,
            (d.box.x2 - d.box.x1) / w,
            (d.box.y2 - d.box.y1) / h,
        )
        for d in e.detections
    )
    return Inspection(
        line_id=e.line_id or "line",
        camera_id=e.camera_id,
        ts_ms=e.timestamp_ms,
        boxes=boxes,
        machine_id=e.machine_id,
        edge_node=e.edge_node,
        group=e.group_id,
        frame_seq=e.seq,
        model_version=e.model.version,
    )


def action_from_proto(a: m.AlertAction) -> OperatorAction:
    """An operator request as the lifecycle takes it."""
    kind = _ACTION_BACK.get(a.action)
    if kind is None:
        raise DecodeError(f"alert action kind {a.action} is not known", reason="unknown-action")
    return OperatorAction(
        alert_id=a.alert_id,
        action=kind,
        who=a.operator,
        at_ms=a.requested_ms,
        note=a.note,
        until_ms=a.until_ms or None,
        request_id=a.request_id,
    )


def action_to_proto(a: OperatorAction) -> m.AlertAction:
    """The wire form of an operator request."""
    return m.AlertAction(
        request_id=a.request_id,
        alert_id=a.alert_id,
        action=ACTIONS[a.action],
        operator=a.who,
        note=a.note,
        until_ms=a.until_ms or 0,
        requested_ms=a.at_ms,
    )


# ----------------------------------------------------------------------------- alerts


def alert_kind(kind: str) -> m.AlertKind:
    """Proto AlertKind of one of our rule kinds (``range.temperature`` -> OUT_OF_RANGE)."""
    found = ALERT_KINDS.get(kind) or ALERT_KINDS.get(kind.split(".", 1)[0])
    return found if found is not None else m.AlertKind.ALERT_KIND_UNSPECIFIED


def source_to_proto(source: str) -> m.AlertSource:
    """``machine/m1``, ``camera/L1/cam1``, ``node/group/edge1`` as an AlertSource."""
    parts = source.split("/")
    kind = SOURCE_KINDS.get(parts[0], m.SourceKind.SOURCE_KIND_UNSPECIFIED)
    if parts[0] == "camera" and len(parts) == 3:
        return m.AlertSource(kind=kind, id=parts[2], line_id=parts[1])
    if parts[0] == "node" and len(parts) == 3:
        return m.AlertSource(kind=kind, id=parts[2], group_id=parts[1], edge_node=parts[2])
    return m.AlertSource(kind=kind, id="/".join(parts[1:]) or source)


def source_from_proto(s: m.AlertSource) -> str:
    """Inverse of :func:`source_to_proto`."""
    prefix = _SOURCE_BACK.get(s.kind, "machine")
    if prefix == "camera":
        return f"camera/{s.line_id}/{s.id}"
    if prefix == "node":
        return f"node/{s.group_id}/{s.edge_node or s.id}"
    return f"{prefix}/{s.id}"


def alert_to_proto(a: Alert) -> m.Alert:
    """The wire form of one alert revision."""
    msg = m.Alert(
        id=a.alert_id,
        kind=alert_kind(a.kind),
        severity=SEVERITIES[a.severity],
        state=STATES[a.state],
        source=source_to_proto(a.source),
        rule=a.kind,
        title=f"{a.kind} on {a.source}",
        message=a.message,
        first_seen_ms=a.episode_start_ms,
        last_seen_ms=max(a.last_raised_ms, a.episode_start_ms),
        count=a.count,
        shelved_until_ms=a.shelved_until_ms or 0,
        cleared_ms=a.cleared_ms or 0,
        revision=a.revision,
    )
    for name, value in a.evidence:
        if isinstance(value, str):
            msg.labels[name] = value
        else:
            msg.evidence[name] = float(value)
    msg.labels["key"] = a.key
    msg.labels["updated_ms"] = str(a.updated_ms)
    for h in a.history:
        if h.action in SYSTEM_NOTES:
            entry = m.AlertActionEntry(
                operator=h.who, action=ACTIONS[ActionKind.NOTE], note=f"{h.action.value}: {h.note}"
            )
        else:
            entry = m.AlertActionEntry(operator=h.who, action=ACTIONS[h.action], note=h.note)
        entry.time_ms = h.at_ms
        entry.until_ms = h.until_ms or 0
        msg.actions.append(entry)
    return msg


def alert_from_proto(msg: m.Alert) -> Alert:
    """Inverse of :func:`alert_to_proto` (evidence order: numbers, then text, by name)."""
    history = []
    for e in msg.actions:
        action = _ACTION_BACK.get(e.action, ActionKind.NOTE)
        note = e.note
        if e.operator == SYSTEM and action is ActionKind.NOTE:
            head, sep, rest = note.partition(": ")
            if sep and head in {k.value for k in SYSTEM_NOTES}:
                action, note = ActionKind(head), rest
        history.append(ActionRecord(action, e.operator, e.time_ms, note, e.until_ms or None))
    labels = dict(msg.labels)
    key = labels.pop("key", "")
    updated = int(labels.pop("updated_ms", "0") or 0)
    evidence: list[tuple[str, float | str]] = [(k, v) for k, v in sorted(msg.evidence.items())]
    evidence += sorted(labels.items())
    return Alert(
        alert_id=msg.id,
        source=source_from_proto(msg.source),
        kind=msg.rule,
        severity=_SEVERITY_BACK.get(msg.severity, Severity.WARNING),
        state=_STATE_BACK.get(msg.state, AlertState.ACTIVE),
        episode_start_ms=msg.first_seen_ms,
        last_raised_ms=msg.last_seen_ms,
        updated_ms=updated or msg.last_seen_ms,
        count=msg.count,
        message=msg.message,
        evidence=tuple(evidence),
        cleared_ms=msg.cleared_ms or None,
        shelved_until_ms=msg.shelved_until_ms or None,
        history=tuple(history),
        revision=msg.revision,
        key=key,
    )
