"""A camera over a production line: one frame per part, defects at the rate the machine's health sets."""

from __future__ import annotations

from collections.abc import Sequence

from simulators.camera.belt import BELTS
from simulators.camera.defects import defect_probabilities, sample_defect_classes
from simulators.camera.frames import CapturedFrame
from simulators.camera.lighting import TRAIN_LIGHTINGS, preset
from simulators.camera.materials import TRAIN_MATERIALS, material
from simulators.camera.scene import Renderer, sample_frame_spec
from simulators.camera.seeding import derive_seed, generator

SPINDLE_FAULT_WORDS: tuple[str, ...] = ("bearing", "imbalance", "unbalance", "chatter", "loose")


class CameraRig:
    """The inspection camera of one machine's output: deterministic for a seed and a sequence of calls.

    Each ``capture`` renders the next part: material and lighting drawn from the rig's lists, the belt
    fixed per rig, defects drawn per class with ``defect_probabilities(health, fault_type, kind)``.
    Frame n's randomness comes from SeedSequence([seed, ids, n]), so frames do not depend on how
    long earlier frames took or on Python's salted ``hash()``.
    """

    def __init__(
        self,
        camera_id: str,
        line_id: str,
        machine_id: str,
        seed: int,
        width: int = 640,
        height: int = 640,
        materials: Sequence[str] | None = None,
        lightings: Sequence[str] | None = None,
    ) -> None:
        self.camera_id, self.line_id, self.machine_id, self.seed = camera_id, line_id, machine_id, seed
        self.width, self.height = width, height
        self.materials = tuple(materials) if materials else TRAIN_MATERIALS
        self.lightings = tuple(lightings) if lightings else TRAIN_LIGHTINGS
        for name in self.materials:
            material(name)
        for name in self.lightings:
            preset(name)
        self._keys = (camera_id, line_id, machine_id)
        self._renderer = Renderer(width, height, derive_seed(seed, "rig", *self._keys))
        rng = generator(seed, "rig-setup", *self._keys)
        self.belt = str(rng.choice(sorted(BELTS)))
        self.captured = 0

    def capture(self, t_ms: int, health: float, fault_type: str | None, machine_kind: str) -> CapturedFrame:
        """Render the next part leaving the machine at event time ``t_ms``."""
        index = self.captured
        self.captured += 1
        rng = generator(self.seed, "frame", *self._keys, index)
        classes = sample_defect_classes(defect_probabilities(health, fault_type, machine_kind), rng)
        spindle_fault = bool(fault_type) and any(w in str(fault_type).lower() for w in SPINDLE_FAULT_WORDS)
        spec = sample_frame_spec(
            rng,
            self.width,
            self.height,
            material_name=self.materials[int(rng.integers(len(self.materials)))],
            lighting=self.lightings[int(rng.integers(len(self.lightings)))],
            belt=self.belt,
            classes=classes,
            chatter_share=0.6 if spindle_fault and machine_kind == "spindle" else 0.2,
            t_ms=max(int(t_ms), 0),
        )
        rendered = self._renderer.render(spec)
        return CapturedFrame(
            part_id=f"{self.line_id}-{self.machine_id}-{index:08d}",
            t_ms=int(t_ms),
            camera_id=self.camera_id,
            image=rendered.image,
            labels=rendered.labels,
            material=spec.material,
            lighting=spec.light.name,
        )
