"""A PNG sheet of predictions on held-out images: model boxes (ultralytics' colours) over thin green truth."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from models.detector.dataset import DatasetSpec, read_labels

TRUTH_BGR = (0, 200, 0)


def tile(images: list[npt.NDArray[np.uint8]], columns: int, cell: int) -> npt.NDArray[np.uint8]:
    """Resize images to `cell` squares and lay them out in rows of `columns` on a white sheet."""
    rows = max(1, math.ceil(len(images) / columns))
    sheet = np.full((rows * cell, columns * cell, 3), 255, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = cv2.resize(image, (cell, cell))
    return sheet


def write_prediction_sheet(
    weights: Path,
    dataset: DatasetSpec,
    split: str,
    out: Path,
    *,
    imgsz: int = 320,
    n: int = 16,
    conf: float = 0.25,
    cell: int = 320,
) -> Path:
    """Predict the first `n` images of `split` with ultralytics and write the annotated sheet to `out`."""
    from ultralytics import YOLO

    files = dataset.images(split, limit=n)
    model = YOLO(str(weights), task="detect")
    panels = []
    for path in files:
        results: Any = model.predict(str(path), imgsz=imgsz, conf=conf, device="cpu", verbose=False)
        result = results[0]
        height, width = result.orig_shape
        truth, _ = read_labels(path, width, height)
        panel = np.ascontiguousarray(result.orig_img.copy())
        for x1, y1, x2, y2 in truth.round().astype(int).tolist():
            cv2.rectangle(panel, (x1, y1), (x2, y2), TRUTH_BGR, 1)
        result.orig_img = panel
        panels.append(np.asarray(result.plot(line_width=1, font_size=9), dtype=np.uint8))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), tile(panels, columns=4, cell=cell))
    return out
