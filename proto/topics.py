"""The project's own MQTT topics: detections, model commands, and the twin's feeds.

    iiot/v1/{group}/{edge_node}/{camera}/detections       DetectionEvent
    iiot/v1/{group}/{edge_node}/cmd/model                 ModelCommand
    twin/v1/{site}/{line}/{machine}/sensors               SensorBatch
    twin/v1/{site}/{line}/{camera}/frames                 CameraFrame
    twin/v1/{site}/truth/{line}/{machine}/health          MachineGroundTruth
    twin/v1/{site}/truth/{line}/{camera}/labels           FrameGroundTruth

Every id is one topic level: non-empty, without '+', '#' or '/'. The line id
"truth" is reserved so that twin/v1/{site}/truth/# matches ground truth only.
Sparkplug topics live in `proto.sparkplug.topics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from proto.errors import TopicError

IIOT_PREFIX: Final = "iiot/v1"
TWIN_PREFIX: Final = "twin/v1"
TRUTH: Final = "truth"
_FORBIDDEN: Final = frozenset("+#/")


def check_id(value: str, what: str = "id") -> str:
    """Return value if it can be one topic level: non-empty, no '+', '#' or '/'."""
    if not isinstance(value, str) or not value:
        raise TopicError(f"{what} must be a non-empty string, got {value!r}")
    if _FORBIDDEN.intersection(value):
        raise TopicError(f"{what} {value!r} must not contain '+', '#' or '/'")
    return value


def _check_line(line_id: str) -> str:
    if check_id(line_id, "line_id") == TRUTH:
        raise TopicError(f"line_id {TRUTH!r} is reserved for ground truth topics")
    return line_id


@dataclass(frozen=True, slots=True)
class DetectionTopic:
    """iiot/v1/{group}/{edge_node}/{camera}/detections."""

    group_id: str
    edge_node: str
    camera_id: str

    def __str__(self) -> str:
        return detections_topic(self.group_id, self.edge_node, self.camera_id)


@dataclass(frozen=True, slots=True)
class ModelCommandTopic:
    """iiot/v1/{group}/{edge_node}/cmd/model."""

    group_id: str
    edge_node: str

    def __str__(self) -> str:
        return model_command_topic(self.group_id, self.edge_node)


@dataclass(frozen=True, slots=True)
class SensorsTopic:
    """twin/v1/{site}/{line}/{machine}/sensors."""

    site_id: str
    line_id: str
    machine_id: str

    def __str__(self) -> str:
        return sensors_topic(self.site_id, self.line_id, self.machine_id)


@dataclass(frozen=True, slots=True)
class FramesTopic:
    """twin/v1/{site}/{line}/{camera}/frames."""

    site_id: str
    line_id: str
    camera_id: str

    def __str__(self) -> str:
        return frames_topic(self.site_id, self.line_id, self.camera_id)


@dataclass(frozen=True, slots=True)
class MachineTruthTopic:
    """twin/v1/{site}/truth/{line}/{machine}/health."""

    site_id: str
    line_id: str
    machine_id: str

    def __str__(self) -> str:
        return machine_truth_topic(self.site_id, self.line_id, self.machine_id)


@dataclass(frozen=True, slots=True)
class FrameTruthTopic:
    """twin/v1/{site}/truth/{line}/{camera}/labels."""

    site_id: str
    line_id: str
    camera_id: str

    def __str__(self) -> str:
        return frame_truth_topic(self.site_id, self.line_id, self.camera_id)


Topic = DetectionTopic | ModelCommandTopic | SensorsTopic | FramesTopic | MachineTruthTopic | FrameTruthTopic


def detections_topic(group_id: str, edge_node: str, camera_id: str) -> str:
    """iiot/v1/{group}/{edge_node}/{camera}/detections."""
    ids = check_id(group_id, "group_id"), check_id(edge_node, "edge_node"), check_id(camera_id, "camera_id")
    return f"{IIOT_PREFIX}/{ids[0]}/{ids[1]}/{ids[2]}/detections"


def model_command_topic(group_id: str, edge_node: str) -> str:
    """iiot/v1/{group}/{edge_node}/cmd/model."""
    return f"{IIOT_PREFIX}/{check_id(group_id, 'group_id')}/{check_id(edge_node, 'edge_node')}/cmd/model"


def sensors_topic(site_id: str, line_id: str, machine_id: str) -> str:
    """twin/v1/{site}/{line}/{machine}/sensors."""
    site, line, machine = (
        check_id(site_id, "site_id"),
        _check_line(line_id),
        check_id(machine_id, "machine_id"),
    )
    return f"{TWIN_PREFIX}/{site}/{line}/{machine}/sensors"


def frames_topic(site_id: str, line_id: str, camera_id: str) -> str:
    """twin/v1/{site}/{line}/{camera}/frames."""
    site, line, camera = check_id(site_id, "site_id"), _check_line(line_id), check_id(camera_id, "camera_id")
    return f"{TWIN_PREFIX}/{site}/{line}/{camera}/frames"


def machine_truth_topic(site_id: str, line_id: str, machine_id: str) -> str:
    """twin/v1/{site}/truth/{line}/{machine}/health."""
    site, line, machine = (
        check_id(site_id, "site_id"),
        _check_line(line_id),
        check_id(machine_id, "machine_id"),
    )
    return f"{TWIN_PREFIX}/{site}/{TRUTH}/{line}/{machine}/health"


def frame_truth_topic(site_id: str, line_id: str, camera_id: str) -> str:
    """twin/v1/{site}/truth/{line}/{camera}/labels."""
    site, line, camera = check_id(site_id, "site_id"), _check_line(line_id), check_id(camera_id, "camera_id")
    return f"{TWIN_PREFIX}/{site}/{TRUTH}/{line}/{camera}/labels"


def parse_topic(topic: str) -> Topic:
    """Parse any of the project's own topics; TopicError if it is none of them."""
    levels = topic.split("/") if isinstance(topic, str) else []
    prefix, rest = "/".join(levels[:2]), levels[2:]
    try:
        if prefix == IIOT_PREFIX and len(rest) == 4:
            if rest[2:] == ["cmd", "model"]:
                return _checked(ModelCommandTopic(rest[0], rest[1]))
            if rest[3] == "detections":
                return _checked(DetectionTopic(rest[0], rest[1], rest[2]))
        if prefix == TWIN_PREFIX and len(rest) == 4 and rest[1] != TRUTH:
            if rest[3] == "sensors":
                return _checked(SensorsTopic(rest[0], rest[1], rest[2]))
            if rest[3] == "frames":
                return _checked(FramesTopic(rest[0], rest[1], rest[2]))
        if prefix == TWIN_PREFIX and len(rest) == 5 and rest[1] == TRUTH:
            if rest[4] == "health":
                return _checked(MachineTruthTopic(rest[0], rest[2], rest[3]))
            if rest[4] == "labels":
                return _checked(FrameTruthTopic(rest[0], rest[2], rest[3]))
    except TopicError as exc:
        raise TopicError(f"invalid topic {topic!r}: {exc}") from exc
    raise TopicError(f"not an iiot/v1 or twin/v1 topic: {topic!r}")


def _checked(parsed: Topic) -> Topic:
    str(parsed)  # building the string validates every id
    return parsed


def detections_filter(group_id: str = "+", edge_node: str = "+", camera_id: str = "+") -> str:
    """Subscription filter for detection events; '+' matches any id."""
    return f"{IIOT_PREFIX}/{_level(group_id)}/{_level(edge_node)}/{_level(camera_id)}/detections"


def model_command_filter(group_id: str = "+", edge_node: str = "+") -> str:
    """Subscription filter for model commands; an edge node subscribes to its own."""
    return f"{IIOT_PREFIX}/{_level(group_id)}/{_level(edge_node)}/cmd/model"


def sensors_filter(site_id: str = "+", line_id: str = "+", machine_id: str = "+") -> str:
    """Subscription filter for twin sensor batches."""
    return f"{TWIN_PREFIX}/{_level(site_id)}/{_level(line_id)}/{_level(machine_id)}/sensors"


def frames_filter(site_id: str = "+", line_id: str = "+", camera_id: str = "+") -> str:
    """Subscription filter for twin camera frames."""
    return f"{TWIN_PREFIX}/{_level(site_id)}/{_level(line_id)}/{_level(camera_id)}/frames"


def truth_filter(site_id: str = "+") -> str:
    """Subscription filter for all ground truth of a site."""
    return f"{TWIN_PREFIX}/{_level(site_id)}/{TRUTH}/#"


def _level(value: str) -> str:
    return value if value == "+" else check_id(value)
