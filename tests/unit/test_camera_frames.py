"""BoxLabel YOLO lines and CapturedFrame records: normalization, round trips, JPEG, immutability."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from simulators.camera import DEFECT_CLASSES, BoxLabel, CameraRig, CapturedFrame


def test_to_yolo_normalizes_centre_and_size() -> None:
    label = BoxLabel(3, "stain", 10.0, 20.0, 30.0, 60.0)
    assert label.to_yolo(100, 200) == "3 0.200000 0.200000 0.200000 0.200000"


def test_to_yolo_clips_to_the_image() -> None:
    fields = BoxLabel(0, "scratch", -5.0, 90.0, 20.0, 130.0).to_yolo(100, 100).split()
    cx, cy, w, h = map(float, fields[1:])
    assert cx - w / 2 >= 0
    assert cx + w / 2 <= 1
    assert cy - h / 2 >= 0
    assert cy + h / 2 <= 1 + 1e-9


def test_from_yolo_round_trip() -> None:
    label = BoxLabel(4, "missing_hole", 101.0, 33.0, 140.0, 77.0)
    back = BoxLabel.from_yolo(label.to_yolo(640, 480), 640, 480, DEFECT_CLASSES)
    assert back.class_name == "missing_hole"
    for a, b in zip((back.x1, back.y1, back.x2, back.y2), (101.0, 33.0, 140.0, 77.0), strict=True):
        assert a == pytest.approx(b, abs=1e-3)
    with pytest.raises(ValueError, match="5 fields"):
        BoxLabel.from_yolo("1 0.5 0.5", 10, 10, DEFECT_CLASSES)


@pytest.fixture(scope="module")
def frames() -> list[CapturedFrame]:
    rig = CameraRig("cam-1", "line-1", "spindle-1", seed=3, width=224, height=192)
    return [rig.capture(i * 1000, 0.0, "bearing_outer", "spindle") for i in range(8)]


def test_rig_labels_are_valid_yolo(frames: list[CapturedFrame]) -> None:
    assert any(f.labels for f in frames)
    for frame in frames:
        assert frame.image.shape == (192, 224, 3)
        assert frame.image.dtype == np.uint8
        for line in frame.yolo_lines().splitlines():
            fields = line.split()
            assert len(fields) == 5
            class_id = int(fields[0])
            assert 0 <= class_id < len(DEFECT_CLASSES)
            cx, cy, w, h = map(float, fields[1:])
            assert 0 < w <= 1
            assert 0 < h <= 1
            assert cx - w / 2 - 1e-6 >= 0
            assert cx + w / 2 <= 1 + 1e-6
            assert cy - h / 2 - 1e-6 >= 0
            assert cy + h / 2 <= 1 + 1e-6
        for label in frame.labels:
            assert label.class_name == DEFECT_CLASSES[label.class_id]
            assert 0 <= label.x1 < label.x2 <= frame.width
            assert 0 <= label.y1 < label.y2 <= frame.height


def test_jpeg_round_trip(frames: list[CapturedFrame]) -> None:
    frame = frames[0]
    data = frame.jpeg(95)
    assert data[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == frame.image.shape
    mse = float(((decoded.astype(float) - frame.image.astype(float)) ** 2).mean())
    assert 10 * np.log10(255.0**2 / mse) > 30.0
    assert len(frame.jpeg(30)) < len(data)
    with pytest.raises(ValueError, match="quality"):
        frame.jpeg(0)


def test_frame_is_immutable(frames: list[CapturedFrame]) -> None:
    frame = frames[0]
    with pytest.raises(ValueError, match="read-only"):
        frame.image[0, 0, 0] = 1
    with pytest.raises(ValueError, match="HxWx3"):
        CapturedFrame("p", 0, "c", np.zeros((4, 4), np.uint8), ())


def test_part_ids_and_times(frames: list[CapturedFrame]) -> None:
    assert [f.part_id for f in frames[:2]] == ["line-1-spindle-1-00000000", "line-1-spindle-1-00000001"]
    assert [f.t_ms for f in frames[:2]] == [0, 1000]
    assert {f.camera_id for f in frames} == {"cam-1"}
