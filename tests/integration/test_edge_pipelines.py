"""The agent's pipelines against the real Mosquitto, fed by the twin's own code.

* Detections: frames rendered by `simulators.camera.CameraRig` (defects with exact boxes) are
  published as CameraFrame messages; the agent publishes one DetectionEvent per frame. With the
  trained detector artifact (models/artifacts/detector/*.manifest.json) the boxes must match the
  rendered ground truth; until it exists the grid stand-in model checks the plumbing only (every
  frame → one valid event with its seq, part, size and model). A model swap in the middle of the
  stream must not lose a frame.
* Predictions: the twin (`PlantRunner` + its MQTT publisher, flat out) runs two pumps, one with an
  injected clogging fault. With the trained fault artifact (models/artifacts/fault/) the failing
  pump's probability must rise above the alarm threshold before it fails while the healthy one
  stays below; until it lands the stand-in model checks the plumbing (predictions for both pumps
  in event time, valid, numbered).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from stack_settings import StackSettings
from test_edge_harness import HostCollector, SparkplugView, TwinFeed, client_for, edge_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_edge_fakes import build_fault_model, build_grid_detector

from edge.agent import EdgeAgent
from edge.settings import load_settings
from proto import codec, topics
from proto.artifacts import load_manifest
from proto.messages import CameraFrame
from proto.sparkplug import Verdict

ROOT = Path(__file__).resolve().parents[2]
REAL_DETECTOR = sorted((ROOT / "models" / "artifacts" / "detector").glob("*.manifest.json"))
FAILING, HEALTHY = "m5-00000", "m5-00002"
REAL_FAULT = sorted((ROOT / "models" / "artifacts" / "fault").glob("*.manifest.json"))


async def eventually(predicate: Callable[[], object], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {within_s:.0f} s waiting for {what}"
        await asyncio.sleep(0.2)


def stack_agent(
    stack: StackSettings,
    tmp: Path,
    group: str,
    site: str,
    host: str,
    fault: Path,
    detector: Path,
    **extra: Any,
) -> Any:
    raw = edge_settings(
        stack,
        tmp,
        broker_port=stack.mqtt_port,
        group=group,
        site=site,
        host_id=host,
        fault_manifest=fault,
        detector_manifest=detector,
    )
    raw.update(extra)
    return load_settings(None, **raw)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


async def test_detection_events_for_rendered_defects_and_a_swap_loses_no_frame(
    stack: StackSettings, tmp_path: Path
) -> None:
    from simulators.camera import CameraRig

    tag = uuid.uuid4().hex[:6]
    group, site, host_id = f"it{tag}", f"site-{tag}", f"host-{tag}"
    if REAL_DETECTOR:
        detector, detector_v2 = REAL_DETECTOR[0], REAL_DETECTOR[-1]
        size = int(load_manifest(detector).inputs[0].shape[-1])  # render at the size it was trained on
    else:  # plumbing only, until models/artifacts/detector/ holds the trained model
        detector = build_grid_detector(tmp_path / "det1", size=128)
        detector_v2 = build_grid_detector(tmp_path / "det2", size=128, version="2.0.0")
        size = 320
    fault = build_fault_model(tmp_path / "fault")
    rig = CameraRig("cam-1", "line-1", "spindle-1", seed=7, width=size, height=size)
    host = HostCollector(stack, stack.mqtt_port, group, host_id).start()
    twin = client_for(stack, "twin", f"it-twin-{tag}")
    twin.connect("127.0.0.1", stack.mqtt_port)
    twin.loop_start()
    truth: dict[int, Any] = {}
    try:
        async with EdgeAgent(stack_agent(stack, tmp_path, group, site, host_id, fault, detector)) as agent:
            await eventually(lambda: agent.publisher is not None and agent.publisher.online, 30, "births")
            await eventually(
                lambda: all(getattr(s, "connected", True) for s in agent.sources), 30, "twin feeds"
            )
            await asyncio.sleep(1.0)
            for seq in range(1, 25):
                captured = await asyncio.to_thread(
                    rig.capture, 1_700_000_000_000 + seq * 2000, 0.1, "bearing_outer", "spindle"
                )
                truth[seq] = captured
                message = CameraFrame(
                    site_id=site,
                    line_id="line-1",
                    camera_id="cam-1",
                    part_id=captured.part_id,
                    machine_id="spindle-1",
                    timestamp_ms=captured.t_ms,
                    jpeg=captured.jpeg(90),
                    width=size,
                    height=size,
                    seq=seq,
                )
                twin.publish(topics.frames_topic(site, "line-1", "cam-1"), codec.encode(message), qos=1)
                if seq == 12:
                    assert await agent.swap_model("detector", detector_v2)
                await asyncio.sleep(0.1)
            await eventually(
                lambda: len(SparkplugView.of(host.snapshot(), set()).events) >= len(truth),
                60,
                "an event per frame",
            )
            dropped = sum(agent.mailbox.dropped.values())
    finally:
        twin.disconnect()
        twin.loop_stop()
        host.stop()
    events = SparkplugView.of(host.snapshot(), set()).events
    assert dropped == 0
    assert sorted(seq for _, seq in events) == sorted(truth)  # one event per frame, none lost to the swap
    versions = {e[0].model.version for e in events.values()}
    assert (
        len(versions) == 2 or REAL_DETECTOR
    )  # both models served (the same file twice if only one real one)
    for (camera, seq), (event, *_) in events.items():
        assert codec.is_valid(event)
        assert (camera, event.part_id) == ("cam-1", truth[seq].part_id)
        assert (event.image_width, event.image_height) == (size, size)
        assert event.timestamp_ms == truth[seq].t_ms
        if event.detections:
            assert event.crop_jpeg.startswith(b"\xff\xd8")
    if REAL_DETECTOR:
        names = load_manifest(detector).class_names
        labels = [(seq, label) for seq, frame in truth.items() for label in frame.labels]
        matched = 0
        for seq, label in labels:
            event = events[("cam-1", seq)][0]
            matched += any(
                names[d.class_id] == label.class_name
                and iou((d.box.x1, d.box.y1, d.box.x2, d.box.y2), (label.x1, label.y1, label.x2, label.y2))
                >= 0.5
                for d in event.detections
            )
        assert labels
        assert matched / len(labels) >= 0.6, f"only {matched} of {len(labels)} rendered defects found"


async def test_a_silent_camera_gets_a_ddeath_and_its_next_frame_a_dbirth(
    stack: StackSettings, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    group, site, host_id = f"it{tag}", f"site-{tag}", f"host-{tag}"
    raw = edge_settings(
        stack,
        tmp_path,
        broker_port=stack.mqtt_port,
        group=group,
        site=site,
        host_id=host_id,
        fault_manifest=build_fault_model(tmp_path / "fault"),
        detector_manifest=build_grid_detector(tmp_path / "det", size=128),
    )
    raw["detector"]["camera_timeout_s"] = 3.0
    raw["node_metrics_period_s"] = 1.0  # the camera's DBIRTH and DDATA come before its timeout
    host = HostCollector(stack, stack.mqtt_port, group, host_id).start()
    feed = TwinFeed(stack, site, "line-1", ["pump-1"], ["cam-1"])

    def cam_messages() -> list[str]:  # the Sparkplug message types for device cam-1, in arrival order
        return [
            parts[2]
            for m in host.snapshot()
            if (parts := m.topic.split("/"))[0] == "spBv1.0" and parts[-1] == "cam-1" and len(parts) == 5
        ]

    try:
        async with EdgeAgent(load_settings(None, **raw)) as agent:
            await eventually(lambda: agent.publisher is not None and agent.publisher.online, 30, "births")
            await eventually(
                lambda: all(getattr(s, "connected", True) for s in agent.sources), 30, "twin feeds"
            )
            await asyncio.sleep(1.0)
            feed.frame("cam-1")
            await eventually(lambda: "DDATA" in cam_messages(), 30, "cam-1 data")
            await eventually(lambda: "DDEATH" in cam_messages(), 30, "a DDEATH after 3 s without frames")
            died_at = cam_messages().index("DDEATH")
            await asyncio.sleep(3.0)  # still silent: no second death, no data for a dead device
            assert cam_messages()[died_at:] == ["DDEATH"]
            feed.frame("cam-1")
            await eventually(lambda: "DDATA" in cam_messages()[died_at:], 30, "cam-1 data again")
    finally:
        feed.close()
        host.stop()
    after = cam_messages()[died_at + 1 :]
    assert after.index("DBIRTH") < after.index("DDATA")  # reborn before its data
    view = SparkplugView.of(host.snapshot(), set())
    assert sorted(seq for _, seq in view.events) == [1, 2]  # both frames inspected
    assert Verdict.GAP not in view.verdicts
    assert Verdict.INVALID not in view.verdicts
    assert Verdict.UNKNOWN_NODE not in view.verdicts


async def test_predictions_rise_before_an_injected_failure_and_stay_quiet_on_a_healthy_machine(
    stack: StackSettings, tmp_path: Path
) -> None:
    from simulators.mqtt_publisher import MqttTwinPublisher
    from simulators.plant import generate_plant, parse_plant, subset_plant
    from simulators.runner import PlantRunner
    from simulators.scenario import Scenario
    from simulators.settings import TwinSettings
    from simulators.twin import Twin

    tag = uuid.uuid4().hex[:6]
    group, site, host_id = f"it{tag}", f"site-{tag}", f"host-{tag}"
    if REAL_FAULT:
        fault = REAL_FAULT[-1]
        manifest = load_manifest(fault)
        step_s = float(manifest.metrics.get("feature_step_s", 1.0))
        history_s = manifest.normalization.window_length * step_s  # type: ignore[union-attr]
        onset_s, life_s = history_s, 4 * 3600.0  # a full window of healthy history first
    else:  # plumbing only, until models/artifacts/fault/ holds the trained model
        fault = build_fault_model(tmp_path / "fault", window=8, stride=4)
        onset_s, life_s = 20.0, 60.0
    duration_s = onset_s + life_s * 0.95  # stop before the failure itself
    # a generated plant like the training data: m5-00000 is a motor, m5-00002 a conveyor
    data = subset_plant(generate_plant(6, seed=5), {FAILING, HEALTHY}).model_dump(mode="json")
    data["sites"][0]["id"] = site
    plant = parse_plant(data)
    scenario = Scenario(
        name="it",
        actions=(
            {
                "at_s": onset_s,
                "action": "inject_fault",
                "machine": FAILING,
                "fault": "bearing_outer",
                "life_s": life_s,
            },
        ),  # type: ignore[arg-type]
    )
    detector = build_grid_detector(tmp_path / "det", size=128)
    host = HostCollector(stack, stack.mqtt_port, group, host_id).start()
    twin_user = stack.mqtt_user("twin")
    twin_settings = TwinSettings(
        mqtt_host="127.0.0.1",
        mqtt_port=stack.mqtt_port,
        mqtt_username=twin_user.username,
        mqtt_password=SecretStr(twin_user.password),
        mqtt_client_id=f"it-twin-{tag}",
    )
    try:
        quiet = {"telemetry": {"enabled": False}}  # predictions only: keeps hours of twin data cheap
        async with EdgeAgent(
            stack_agent(stack, tmp_path, group, site, host_id, fault, detector, **quiet)
        ) as agent:
            await eventually(lambda: agent.publisher is not None and agent.publisher.online, 30, "births")
            await eventually(
                lambda: all(getattr(s, "connected", True) for s in agent.sources), 30, "twin feeds"
            )
            await asyncio.sleep(1.0)

            def run_twin() -> None:
                twin = Twin(plant, seed=3, scenario=scenario, random_faults=False)
                with MqttTwinPublisher(twin_settings) as publisher:
                    PlantRunner(twin, [publisher], cameras=False).run(duration_s)

            await asyncio.to_thread(run_twin)
            await eventually(
                lambda: agent.samples.received > 0 and len(agent.samples) == 0, 300, "samples taken in"
            )
            faults = agent.faults
            assert faults is not None
            await eventually(lambda: not faults.assembler.pending(), 120, "every window run")
            assert agent.publisher is not None
            assert await agent.publisher.drain(60)
            await asyncio.sleep(1.0)
    finally:
        host.stop()
    view = SparkplugView.of(host.snapshot(), set())
    probability = {
        machine: [
            (t, float(v)) for t, v, _ in view.metrics.get((machine, "prediction/fault_probability"), [])
        ]
        for machine in (FAILING, HEALTHY)
    }
    assert probability[FAILING]
    assert probability[HEALTHY]
    for series in probability.values():
        assert all(0.0 <= p <= 1.0 for _, p in series)
        assert [t for t, _ in series] == sorted(t for t, _ in series)  # event time order
    if REAL_FAULT:
        enter = manifest.thresholds.enter  # type: ignore[union-attr]
        start_ms = int(plant.simulation.start.timestamp() * 1000)
        failing_late = [p for t, p in probability[FAILING] if t - start_ms > (onset_s + 0.5 * life_s) * 1000]
        assert max(failing_late) >= enter, "no rise before the failure"
        assert max(p for _, p in probability[HEALTHY]) < enter, "an alarm-level probability on a healthy pump"


def test_which_models_the_pipeline_tests_use(stack: StackSettings) -> None:
    """Says (with -s) whether the tests above ran the trained artifacts or the stand-ins."""
    print(f"detector: {REAL_DETECTOR[:1] or 'stand-in'}, fault: {REAL_FAULT[:1] or 'stand-in'}")
    assert stack.mqtt_port > 0
