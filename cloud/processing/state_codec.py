"""JSON codecs for alerts and per-key processing state (Faust table values, storage fields)."""

from __future__ import annotations

import json
from typing import Any

from cloud.errors import StateCodecError
from cloud.processing.aggregation import AggregatorState
from cloud.processing.alert_lifecycle import AlertBook
from cloud.processing.alert_rules import DefectRateState, HysteresisState, NodeHealthState, Phase
from cloud.processing.processor import KeyState
from cloud.processing.records import ActionKind, ActionRecord, Alert, AlertState, Evidence, Severity
from cloud.processing.stats import RunningStats

STATE_VERSION = 1


def evidence_to_json(evidence: Evidence) -> str:
    """Evidence pairs as a JSON list, order kept."""
    return json.dumps([[k, v] for k, v in evidence], separators=(",", ":"))


def evidence_from_json(text: str) -> Evidence:
    """Inverse of :func:`evidence_to_json`."""
    return tuple((str(k), v if isinstance(v, str) else float(v)) for k, v in json.loads(text or "[]"))


def history_to_json(history: tuple[ActionRecord, ...]) -> str:
    """Alert history as a JSON list of [action, who, at_ms, note, until_ms]."""
    return json.dumps(
        [[h.action.value, h.who, h.at_ms, h.note, h.until_ms] for h in history], separators=(",", ":")
    )


def history_from_json(text: str) -> tuple[ActionRecord, ...]:
    """Inverse of :func:`history_to_json`."""
    return tuple(
        ActionRecord(ActionKind(a), str(who), int(at), str(note), None if until is None else int(until))
        for a, who, at, note, until in json.loads(text or "[]")
    )


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """An alert as plain JSON values."""
    return {
        "alert_id": alert.alert_id,
        "source": alert.source,
        "kind": alert.kind,
        "severity": alert.severity.label,
        "state": alert.state.value,
        "episode_start_ms": alert.episode_start_ms,
        "last_raised_ms": alert.last_raised_ms,
        "updated_ms": alert.updated_ms,
        "count": alert.count,
        "message": alert.message,
        "evidence": [[k, v] for k, v in alert.evidence],
        "cleared_ms": alert.cleared_ms,
        "shelved_until_ms": alert.shelved_until_ms,
        "history": [[h.action.value, h.who, h.at_ms, h.note, h.until_ms] for h in alert.history],
        "revision": alert.revision,
        "key": alert.key,
    }


def alert_from_dict(data: dict[str, Any]) -> Alert:
    """Inverse of :func:`alert_to_dict`."""
    try:
        return Alert(
            alert_id=str(data["alert_id"]),
            source=str(data["source"]),
            kind=str(data["kind"]),
            severity=Severity.parse(data["severity"]),
            state=AlertState(data["state"]),
            episode_start_ms=int(data["episode_start_ms"]),
            last_raised_ms=int(data["last_raised_ms"]),
            updated_ms=int(data["updated_ms"]),
            count=int(data["count"]),
            message=str(data.get("message", "")),
            evidence=evidence_from_json(json.dumps(data.get("evidence", []))),
            cleared_ms=_opt_int(data.get("cleared_ms")),
            shelved_until_ms=_opt_int(data.get("shelved_until_ms")),
            history=history_from_json(json.dumps(data.get("history", []))),
            revision=int(data.get("revision", 1)),
            key=str(data.get("key", "")),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise StateCodecError(f"not an alert: {exc}") from exc


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _hyst(state: HysteresisState) -> list[Any]:
    return [
        state.phase.value,
        state.since_ms,
        None if state.severity is None else int(state.severity),
        state.last_ts_ms,
    ]


def _hyst_from(data: list[Any]) -> HysteresisState:
    phase, since, severity, last = data
    return HysteresisState(Phase(phase), since, None if severity is None else Severity(severity), last)


def key_state_to_json(state: KeyState) -> bytes:
    """One key's processing state as compact JSON bytes."""
    agg = state.aggregator
    data = {
        "v": STATE_VERSION,
        "agg": {
            "wm": agg.watermark_ms,
            "late": agg.late,
            "win": [[*key, list(stats.to_tuple())] for key, stats in sorted(agg.windows.items())],
        },
        "pred": [[machine, _hyst(h)] for machine, h in sorted(state.predictions.items())],
        "range": [[*key, _hyst(h)] for key, h in sorted(state.ranges.items())],
        "defect": [
            [*key, [[list(b) for b in d.buckets], _hyst(d.hysteresis), d.newest_ms]]
            for key, d in sorted(state.defects.items())
        ],
        "nodes": [
            [*key, [n.online, n.last_seen_ms, n.bd_seq, n.offline_raised, n.stale_raised, n.stale_at_ms]]
            for key, n in sorted(state.nodes.items())
        ],
        "alerts": {
            "open": [alert_to_dict(a) for _, a in sorted(state.alerts.open.items())],
            "closed": [alert_to_dict(a) for _, a in sorted(state.alerts.closed.items())],
        },
        "wm": state.watermark_ms,
        "pos": dict(sorted(state.positions.items())),
    }
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def key_state_from_json(raw: bytes | str) -> KeyState:
    """Inverse of :func:`key_state_to_json`."""
    try:
        data = json.loads(raw)
        if data.get("v") != STATE_VERSION:
            raise StateCodecError(f"unsupported state version {data.get('v')!r}")
        agg = data["agg"]
        windows = {
            (m, metric, label, int(start)): RunningStats.from_tuple(s)
            for m, metric, label, start, s in agg["win"]
        }
        open_alerts = [alert_from_dict(a) for a in data["alerts"]["open"]]
        closed_alerts = [alert_from_dict(a) for a in data["alerts"]["closed"]]
        return KeyState(
            aggregator=AggregatorState(agg["wm"], windows, int(agg["late"])),
            predictions={m: _hyst_from(h) for m, h in data["pred"]},
            ranges={(m, metric): _hyst_from(h) for m, metric, h in data["range"]},
            defects={
                (line, cam): DefectRateState(
                    tuple((int(s), int(n), int(b)) for s, n, b in buckets), _hyst_from(h), newest
                )
                for line, cam, (buckets, h, newest) in data["defect"]
            },
            nodes={(g, n): NodeHealthState(*values) for g, n, values in data["nodes"]},
            alerts=AlertBook(
                {(a.source, a.kind): a for a in open_alerts}, {(a.source, a.kind): a for a in closed_alerts}
            ),
            watermark_ms=data["wm"],
            positions={str(k): int(v) for k, v in data["pos"].items()},
        )
    except StateCodecError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise StateCodecError(f"cannot decode processing state: {exc}") from exc
