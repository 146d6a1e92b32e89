"""The twin's cameras: a procedural renderer of parts on a conveyor, with exact defect boxes."""

from __future__ import annotations

from simulators.camera.defects import DEFECT_CLASSES, defect_probabilities
from simulators.camera.frames import BoxLabel, CapturedFrame
from simulators.camera.rig import CameraRig

__all__ = ["DEFECT_CLASSES", "BoxLabel", "CameraRig", "CapturedFrame", "defect_probabilities"]
