"""The generated message classes under short names: `from proto.messages import DetectionEvent`."""

from __future__ import annotations

from proto.iiot.v1.alert_pb2 import (
    Alert,
    AlertAction,
    AlertActionEntry,
    AlertActionKind,
    AlertKind,
    AlertSource,
    AlertState,
    Severity,
    SourceKind,
)
from proto.iiot.v1.dead_letter_pb2 import DeadLetter
from proto.iiot.v1.deployment_pb2 import (
    DeploymentState,
    DeploymentStatus,
    DeploymentTarget,
    ModelCommand,
    ModelCommandAction,
)
from proto.iiot.v1.detection_pb2 import Detection, DetectionEvent
from proto.iiot.v1.geometry_pb2 import Box
from proto.iiot.v1.model_pb2 import ModelManifest, ModelRef, Normalization
from proto.iiot.v1.model_service_pb2 import (
    Chunk,
    DownloadRequest,
    GetManifestRequest,
    ListModelsRequest,
    ListModelsResponse,
    ReportStatusResponse,
    WatchTargetsRequest,
)
from proto.iiot.v1.prediction_pb2 import AlarmState, Prediction
from proto.iiot.v1.telemetry_pb2 import TelemetryBatch, TelemetryRecord
from proto.twin.v1.camera_pb2 import CameraFrame
from proto.twin.v1.sensors_pb2 import SensorBatch
from proto.twin.v1.truth_pb2 import FrameGroundTruth, LabelledBox, MachineGroundTruth

__all__ = [
    "AlarmState",
    "Alert",
    "AlertAction",
    "AlertActionEntry",
    "AlertActionKind",
    "AlertKind",
    "AlertSource",
    "AlertState",
    "Box",
    "CameraFrame",
    "Chunk",
    "DeadLetter",
    "DeploymentState",
    "DeploymentStatus",
    "DeploymentTarget",
    "Detection",
    "DetectionEvent",
    "DownloadRequest",
    "FrameGroundTruth",
    "GetManifestRequest",
    "LabelledBox",
    "ListModelsRequest",
    "ListModelsResponse",
    "MachineGroundTruth",
    "ModelCommand",
    "ModelCommandAction",
    "ModelManifest",
    "ModelRef",
    "Normalization",
    "Prediction",
    "ReportStatusResponse",
    "SensorBatch",
    "Severity",
    "SourceKind",
    "TelemetryBatch",
    "TelemetryRecord",
    "WatchTargetsRequest",
]
