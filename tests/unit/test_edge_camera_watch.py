"""Camera liveness: lost after a timeout without frames or when the source says so, back with a frame."""

from __future__ import annotations

import pytest

from edge.camera_watch import CameraChanges, CameraWatch

# each step: (now, {camera: newest frame arrival}, {camera: reported lost at}) -> expected changes
Step = tuple[float, dict[str, float], dict[str, float], CameraChanges]


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(
            [
                (1.0, {"c": 0.5}, {}, CameraChanges()),
                (10.5, {"c": 0.5}, {}, CameraChanges()),  # exactly the timeout: still up
                (10.6, {"c": 0.5}, {}, CameraChanges(lost=("c",))),
                (11.0, {"c": 0.5}, {}, CameraChanges()),  # reported once
                (12.0, {"c": 11.9}, {}, CameraChanges(back=("c",))),
            ],
            id="silent-then-back",
        ),
        pytest.param(
            [
                (1.0, {"c": 0.9}, {"c": 1.0}, CameraChanges(lost=("c",))),  # capture failed after the frame
                (2.0, {"c": 0.9}, {"c": 1.0}, CameraChanges()),
                (3.0, {"c": 2.5}, {"c": 1.0}, CameraChanges(back=("c",))),  # reopened, a new frame
            ],
            id="source-reports-loss",
        ),
        pytest.param(
            [(1.0, {"c": 0.9}, {"c": 0.5}, CameraChanges())],  # a failure already over: nothing to tell
            id="loss-before-the-newest-frame",
        ),
        pytest.param(
            [(1.0, {}, {"c": 0.5}, CameraChanges())],  # never delivered a frame: never born, never dead
            id="unknown-camera",
        ),
        pytest.param(
            [
                (20.0, {"b": 19.0, "a": 1.0}, {}, CameraChanges(lost=("a",))),
                (30.0, {"b": 29.0, "a": 1.0, "c": 5.0}, {}, CameraChanges(lost=("c",))),
            ],
            id="cameras-are-independent",
        ),
    ],
)
def test_camera_watch(steps: list[Step]) -> None:
    watch = CameraWatch(timeout_s=10.0)
    for now, arrivals, losses, expected in steps:
        assert watch.check(arrivals, losses, now) == expected


def test_is_up_and_timeout_must_be_positive() -> None:
    watch = CameraWatch(1.0)
    watch.check({"c": 0.0}, {}, 5.0)
    assert not watch.is_up("c")
    assert watch.is_up("other")
    with pytest.raises(ValueError, match="positive"):
        CameraWatch(0.0)
