"""The runner's batches, frames and events, and their wire encoding."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from proto import codec, topics
from proto.messages import CameraFrame, FrameGroundTruth, MachineGroundTruth, SensorBatch
from simulators.plant import CameraPlacement, load_plant
from simulators.records import MachineBatch, TwinEvent
from simulators.runner import CameraCapture, PlantRunner
from simulators.scenario import Scenario
from simulators.twin import Twin
from simulators.wire import frame_outgoing, machine_truth_message, sensor_outgoing

SCENARIO = Scenario.model_validate(
    {
        "name": "r",
        "actions": [
            {
                "at_s": 5,
                "action": "inject_fault",
                "machine": "spindle-1",
                "fault": "bearing_outer",
                "life_s": 40,
            },
            {"at_s": 3, "action": "agent_kill", "target": "edge-1"},
        ],
    }
)


@dataclass
class Recorder:
    """A sink that keeps everything."""

    batches: list[MachineBatch] = field(default_factory=list)
    frames: list[CameraCapture] = field(default_factory=list)
    events: list[TwinEvent] = field(default_factory=list)

    def sensors(self, batch: MachineBatch) -> None:
        self.batches.append(batch)

    def frame(self, capture: CameraCapture) -> None:
        self.frames.append(capture)

    def event(self, event: TwinEvent) -> None:
        self.events.append(event)


@dataclass(frozen=True)
class FakeFrame:
    part_id: str
    t_ms: int
    image: np.ndarray
    labels: tuple[Any, ...] = ()

    def jpeg(self, quality: int = 90) -> bytes:
        return b"\xff\xd8\xff\xe0fake"


@dataclass
class FakeRig:
    """Records what the runner passes to capture."""

    calls: list[tuple[int, float, str | None, str]] = field(default_factory=list)

    def capture(self, t_ms: int, health: float, fault_type: str | None, machine_kind: str) -> FakeFrame:
        self.calls.append((t_ms, health, fault_type, machine_kind))
        return FakeFrame(f"p{len(self.calls)}", t_ms, np.zeros((8, 8, 3), np.uint8))


@pytest.fixture
def recorded() -> tuple[Recorder, FakeRig, Twin]:
    rig = FakeRig()

    def factory(placement: CameraPlacement, seed: int) -> FakeRig:
        return rig

    twin = Twin(load_plant("demo"), 4, scenario=SCENARIO, random_faults=False)
    recorder = Recorder()
    PlantRunner(twin, [recorder], camera_factory=factory).run(60.0)
    return recorder, rig, twin


def test_one_batch_per_machine_per_block(recorded: tuple[Recorder, FakeRig, Twin]) -> None:
    recorder, _, twin = recorded
    assert len(recorder.batches) == 60 * len(twin.index.ids)
    first = recorder.batches[0]
    assert first.values.shape == (10, len(first.channels))
    assert np.all(np.diff(first.t_ms) >= 0)


def test_cameras_capture_at_part_rate_with_machine_health(recorded: tuple[Recorder, FakeRig, Twin]) -> None:
    recorder, rig, _ = recorded
    assert len(rig.calls) == len(recorder.frames) == 30  # 30 parts per minute for 60 s
    healths = [h for _, h, _, _ in rig.calls]
    faults = {f for _, _, f, _ in rig.calls}
    assert healths[0] == 1.0
    assert min(healths) < 0.5
    assert faults == {None, "bearing_outer"}
    assert {k for _, _, _, k in rig.calls} == {"spindle"}
    assert all(np.diff([t for t, _, _, _ in rig.calls]) == 2000)


def test_events_reach_the_sinks(recorded: tuple[Recorder, FakeRig, Twin]) -> None:
    recorder, _, twin = recorded
    kinds = [(e.kind, e.t_ms - twin.epoch_ms) for e in recorder.events]
    assert kinds[:3] == [("agent_kill", 3000), ("fault_onset", 5000), ("failure", 45000)]


def test_batches_encode_and_decode_with_the_contract(recorded: tuple[Recorder, FakeRig, Twin]) -> None:
    recorder, _, _ = recorded
    batch = next(b for b in recorder.batches if b.machine_id == "pump-1")
    sensors, truth = sensor_outgoing(batch, seq=7)
    assert sensors.topic == topics.sensors_topic("site-a", "line-2", "pump-1")
    decoded = codec.decode(SensorBatch, sensors.payload)
    assert list(decoded.channels) == list(batch.channels)
    assert decoded.machine_kind == "pump"
    assert decoded.seq == 7
    values = np.array(decoded.values).reshape(len(decoded.timestamps_ms), len(decoded.channels))
    assert np.allclose(values, batch.values[: values.shape[0]].astype(np.float64), equal_nan=True)
    health = codec.decode(MachineGroundTruth, truth.payload)
    assert health.fault_type == "normal"
    assert not health.HasField("rul_seconds")


def test_truth_of_a_failing_machine(recorded: tuple[Recorder, FakeRig, Twin]) -> None:
    recorder, _, _ = recorded
    spindle = [b for b in recorder.batches if b.machine_id == "spindle-1"]
    degrading = machine_truth_message(spindle[20], 1)
    assert degrading.fault_type == "bearing_outer"
    assert degrading.fault_active
    assert math.isclose(degrading.rul_seconds, 45.0 - 20.9, abs_tol=1e-6)  # last sample of block 20
    failed = machine_truth_message(spindle[50], 2)
    assert failed.failure
    assert failed.health_index == 0.0
    assert failed.rul_seconds == 0.0


def test_frames_encode_with_labels(recorded: tuple[Recorder, FakeRig, Twin]) -> None:
    recorder, _, _ = recorded
    frame, labels = frame_outgoing(recorder.frames[0], seq=1)
    assert frame.topic == topics.frames_topic("site-a", "line-1", "cam-1")
    decoded = codec.decode(CameraFrame, frame.payload)
    assert decoded.machine_id == "spindle-1"
    assert decoded.width == 8
    assert codec.decode(FrameGroundTruth, labels.payload).frame_seq == 1


def test_runner_drives_the_real_camera_rig() -> None:
    twin = Twin(load_plant("demo"), 4, scenario=SCENARIO, random_faults=False)
    recorder = Recorder()
    summary = PlantRunner(twin, [recorder]).run(6.0)
    assert summary.frames == len(recorder.frames) == 3
    frame = recorder.frames[-1].frame
    assert frame.image.shape == (640, 640, 3)
    assert frame.part_id
    assert frame.jpeg().startswith(b"\xff\xd8")
