"""The harness's twin recorder: expected identities follow the edge's report-by-exception rule exactly."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from edge.publisher.metric_map import ReportByException
from iiot.harness.recorder import TwinRecorder, reported_mask
from simulators.records import MachineBatch, TwinEvent
from simulators.runner import CameraCapture

NAN = math.nan


@pytest.mark.parametrize(
    ("values", "last", "mask", "new_last"),
    [
        ([1.0, 1.0, 2.0, 2.0, 1.0], NAN, [1, 0, 1, 0, 1], 1.0),
        ([1.0, 1.0], 1.0, [0, 0], 1.0),
        ([NAN, 3.0, NAN, 3.0, 4.0], 3.0, [0, 0, 0, 0, 1], 4.0),
        ([NAN, NAN], 5.0, [0, 0], 5.0),
        ([0.5], NAN, [1], 0.5),
    ],
)
def test_reported_mask(values: list[float], last: float, mask: list[int], new_last: float) -> None:
    got, carried = reported_mask(np.array(values, dtype=np.float32), last)
    assert got.tolist() == [bool(m) for m in mask]
    assert carried == new_last


def test_reported_mask_matches_the_edge_rule_on_random_quantized_data() -> None:
    rng = np.random.default_rng(3)
    rbe = ReportByException(deadband=0.0, period_ms=0)
    last = NAN
    for block in range(20):
        values = np.round(rng.normal(size=50), 1).astype(np.float32)
        values[rng.random(50) < 0.2] = np.nan
        mask, last = reported_mask(values, last)
        edge = [
            not math.isnan(float(v)) and rbe.should_report("m", "c", float(v), block * 50 + i)
            for i, v in enumerate(values)
        ]
        assert mask.tolist() == edge


def batch(machine: str, t0: int, values: np.ndarray, channels: tuple[str, ...] = ("a", "b")) -> MachineBatch:
    n = values.shape[0]
    return MachineBatch(
        machine_id=machine,
        kind="motor",
        site_id="s",
        line_id="l",
        t_ms=np.arange(t0, t0 + n * 100, 100, dtype=np.int64),
        channels=channels,
        values=values.astype(np.float32),
        health=np.ones(n, np.float32),
        fault=np.zeros(n, np.int8),
        fault_active=np.zeros(n, bool),
        rul_s=np.full(n, 1e6),
        running=np.ones(n, bool),
    )


def test_recorder_keeps_expected_identities_timeline_and_counts() -> None:
    clock = iter([10.0, 10.1, 11.0, 11.1]).__next__
    recorder = TwinRecorder(served_machines=["m1"], clock=clock)
    recorder.sensors(batch("m1", 0, np.array([[1, NAN], [1, 2], [2, 2]])))
    recorder.sensors(batch("m2", 0, np.array([[5, 5], [6, 6], [7, 7]])))  # not served
    recorder.sensors(batch("m1", 300, np.array([[2, 3], [NAN, 3], [3, 3]])))
    recorder.sensors(batch("m2", 300, np.array([[5, 5], [6, 6], [7, 7]])))
    expected = recorder.expected()
    assert expected[("m1", "a")].tolist() == [0, 200, 500]
    assert expected[("m1", "b")].tolist() == [100, 300]
    assert ("m2", "a") not in expected
    assert recorder.timeline() == [(200, 10.0), (500, 11.0)]
    counts = recorder.counts()
    assert (counts.blocks, counts.batches, counts.samples, counts.expected_samples) == (2, 4, 22, 5)
    assert recorder.series_of("m1") == [("m1", "a"), ("m1", "b")]
    assert recorder.expected([("m1", "b"), ("x", "y")])[("x", "y")].size == 0


def test_recorder_keeps_frames_and_events() -> None:
    label = SimpleNamespace(class_name="scratch", x1=1, y1=2, x2=3, y2=4)
    frame = SimpleNamespace(t_ms=1234, labels=(label,))
    recorder = TwinRecorder(served_cameras=["cam-1"], clock=lambda: 5.0)
    recorder.frame(CameraCapture("s", "l", "cam-1", "m1", 0.9, None, frame))
    recorder.frame(CameraCapture("s", "l", "cam-2", "m2", 0.9, None, frame))
    recorder.event(TwinEvent(1000, "fault_onset", "m1", "imbalance"))
    (first, second) = recorder.frame_truths()
    assert (first.camera_id, first.t_ms, first.sent_wall) == ("cam-1", 1234, 5.0)
    assert first.boxes[0].class_name == "scratch"
    assert (first.boxes[0].x1, first.boxes[0].y2) == (1.0, 4.0)
    assert second.camera_id == "cam-2"
    assert {k: v.tolist() for k, v in recorder.expected_frames().items()} == {("cam-1", "frame"): [1234]}
    assert recorder.counts().expected_frames == 1
    assert [e.kind for e in recorder.twin_events()] == ["fault_onset"]
