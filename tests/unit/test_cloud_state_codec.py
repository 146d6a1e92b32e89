"""Processing state and alerts survive a JSON round trip (Faust table values, storage fields)."""

from __future__ import annotations

import pytest

from cloud.errors import StateCodecError
from cloud.processing.processor import KeyedProcessor, KeyState
from cloud.processing.records import (
    ActionKind,
    DetectionBox,
    Inspection,
    NodeEvent,
    OperatorAction,
    PredictionPoint,
    TelemetryPoint,
)
from cloud.processing.state_codec import (
    alert_from_dict,
    alert_to_dict,
    key_state_from_json,
    key_state_to_json,
)


def busy_states() -> dict[str, KeyState]:
    host = KeyedProcessor()
    host.process(
        [
            NodeEvent("plant", "edge1", 0, "birth", 4),
            *[TelemetryPoint("m1", "temperature", i * 1000, 80.0 + i) for i in range(20)],
            *[PredictionPoint("m1", i * 1000, 0.5 + i / 40, "bearing", rul_s=100.0) for i in range(20)],
            *[
                Inspection("L1", "cam1", i * 500, (DetectionBox("scratch", 0.9),), machine_id="m1")
                for i in range(30)
            ],
        ]
    )
    alert = next(iter(host.states["m1"].alerts.open.values()))
    host.act("m1", OperatorAction(alert.alert_id, ActionKind.SHELVE, "ana", 30_000, until_ms=90_000))
    host.process([TelemetryPoint("m1", "temperature", 25_000, 20.0)])
    return host.states


@pytest.mark.parametrize("key", ["m1", "node/plant/edge1"])
def test_key_state_round_trip(key: str) -> None:
    state = busy_states()[key]
    assert key_state_from_json(key_state_to_json(state)) == state


def test_empty_state_round_trip() -> None:
    assert key_state_from_json(key_state_to_json(KeyState(positions={"a": 9}))) == KeyState(
        positions={"a": 9}
    )


def test_alert_round_trip() -> None:
    for state in busy_states().values():
        for alert in (*state.alerts.open.values(), *state.alerts.closed.values()):
            assert alert_from_dict(alert_to_dict(alert)) == alert


@pytest.mark.parametrize("raw", [b"", b"{}", b'{"v": 99}', b'{"v": 1, "agg": {}}', b"\xff"])
def test_bad_state_raises_codec_error(raw: bytes) -> None:
    with pytest.raises(StateCodecError):
        key_state_from_json(raw)


def test_bad_alert_raises_codec_error() -> None:
    with pytest.raises(StateCodecError):
        alert_from_dict({"alert_id": "x"})


def test_node_state_of_an_older_worker_still_loads() -> None:
    """A worker restarted on new code reads node states written before ``stale_at_ms`` existed."""
    import json

    from cloud.processing.alert_rules import NodeHealthState

    stale = KeyState(nodes={("plant", "edge1"): NodeHealthState(True, 5_000, 4, False, True, 40_000)})
    assert key_state_from_json(key_state_to_json(stale)) == stale  # the new field round-trips
    data = json.loads(key_state_to_json(stale))
    data["nodes"] = [[g, n, values[:5]] for g, n, values in data["nodes"]]  # as the old code wrote it
    old = key_state_from_json(json.dumps(data).encode())
    assert old.nodes[("plant", "edge1")] == NodeHealthState(True, 5_000, 4, False, True, None)
