"""The project's own MQTT topics: build, parse, refuse."""

from __future__ import annotations

import pytest

from proto import topics as t
from proto.errors import TopicError

VALID = [
    ("iiot/v1/plant1/edge-01/cam-a/detections", t.DetectionTopic("plant1", "edge-01", "cam-a")),
    ("iiot/v1/plant1/edge-01/cmd/model", t.ModelCommandTopic("plant1", "edge-01")),
    ("iiot/v1/plant1/edge-01/cmd/detections", t.DetectionTopic("plant1", "edge-01", "cmd")),
    ("twin/v1/site1/line-a/motor-1/sensors", t.SensorsTopic("site1", "line-a", "motor-1")),
    ("twin/v1/site1/line-a/cam-a/frames", t.FramesTopic("site1", "line-a", "cam-a")),
    ("twin/v1/site1/truth/line-a/motor-1/health", t.MachineTruthTopic("site1", "line-a", "motor-1")),
    ("twin/v1/site1/truth/line-a/cam-a/labels", t.FrameTruthTopic("site1", "line-a", "cam-a")),
]


@pytest.mark.parametrize(("topic", "parsed"), VALID)
def test_parse_and_build(topic: str, parsed: t.Topic) -> None:
    assert t.parse_topic(topic) == parsed
    assert str(parsed) == topic


def test_builders() -> None:
    assert t.detections_topic("g", "n", "c") == "iiot/v1/g/n/c/detections"
    assert t.model_command_topic("g", "n") == "iiot/v1/g/n/cmd/model"
    assert t.sensors_topic("s", "l", "m") == "twin/v1/s/l/m/sensors"
    assert t.frames_topic("s", "l", "c") == "twin/v1/s/l/c/frames"
    assert t.machine_truth_topic("s", "l", "m") == "twin/v1/s/truth/l/m/health"
    assert t.frame_truth_topic("s", "l", "c") == "twin/v1/s/truth/l/c/labels"


INVALID = [
    "",
    "iiot/v1",
    "iiot/v2/g/n/c/detections",
    "iiot/v1/g/n/c/detection",
    "iiot/v1/g/n/detections",
    "iiot/v1/g/n/c/d/detections",
    "iiot/v1//n/c/detections",
    "iiot/v1/g/+/c/detections",
    "iiot/v1/g/n/#/detections",
    "iiot/v1/g/n/cmd/models",
    "twin/v1/s/l/m/sensor",
    "twin/v1/s/l/m",
    "twin/v1/s/truth/m/sensors",
    "twin/v1/s/truth/l/m/sensors",
    "twin/v1/s/truth/l/m/frames",
    "twin/v1/s/truth/truth/m/health",
    "twin/v1/s/l/m/x/sensors",
    "spBv1.0/g/NDATA/n",
    "/iiot/v1/g/n/c/detections",
    "iiot/v1/g/n/c/detections/",
]


@pytest.mark.parametrize("topic", INVALID)
def test_parse_refuses(topic: str) -> None:
    with pytest.raises(TopicError):
        t.parse_topic(topic)


@pytest.mark.parametrize(
    ("builder", "args"),
    [
        (t.detections_topic, ("g", "n/x", "c")),
        (t.detections_topic, ("g", "n", "")),
        (t.detections_topic, ("+", "n", "c")),
        (t.model_command_topic, ("g", "#")),
        (t.sensors_topic, ("s", "truth", "m")),
        (t.frames_topic, ("s", "l", "c+")),
        (t.machine_truth_topic, ("s/x", "l", "m")),
        (t.frame_truth_topic, ("s", "truth", "c")),
    ],
)
def test_builders_refuse_bad_ids(builder: object, args: tuple[str, ...]) -> None:
    with pytest.raises(TopicError):
        builder(*args)  # type: ignore[operator]


def test_filters() -> None:
    assert t.detections_filter() == "iiot/v1/+/+/+/detections"
    assert t.detections_filter("g", "n") == "iiot/v1/g/n/+/detections"
    assert t.model_command_filter("g", "edge-01") == "iiot/v1/g/edge-01/cmd/model"
    assert t.sensors_filter("s") == "twin/v1/s/+/+/sensors"
    assert t.frames_filter("s", "l") == "twin/v1/s/l/+/frames"
    assert t.truth_filter("s") == "twin/v1/s/truth/#"
    with pytest.raises(TopicError):
        t.detections_filter("g/h")
