"""The detections of one image: xyxy boxes, scores and class ids as parallel arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """Boxes float32 [n, 4] (x1, y1, x2, y2), scores float32 [n], class_ids int64 [n]."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        n = self.scores.shape[0] if self.scores.ndim == 1 else -1
        if self.boxes.shape != (n, 4) or self.class_ids.shape != (n,):
            raise ValueError(
                f"inconsistent detections: boxes {self.boxes.shape}, scores {self.scores.shape}, "
                f"class_ids {self.class_ids.shape}"
            )

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            class_ids=np.zeros((0,), np.int64),
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def with_boxes(self, boxes: npt.NDArray[np.float32]) -> Detections:
        """The same detections with other boxes (e.g. scaled to the original frame)."""
        return Detections(
            boxes=boxes.astype(np.float32, copy=False), scores=self.scores, class_ids=self.class_ids
        )

    def labels(self, class_names: Sequence[str]) -> list[str]:
        """Class names of the detections, `class_<id>` for ids outside `class_names`."""
        return [
            class_names[i] if 0 <= i < len(class_names) else f"class_{i}" for i in self.class_ids.tolist()
        ]
