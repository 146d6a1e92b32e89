"""INT8 calibration: a fixed-order batch source over image files, its cache file, and the calibrator.

`CalibrationBatches` is pure apart from reading images: sorted files, our own letterbox
preprocessing, a fixed batch size (a short last batch is dropped: TensorRT calibrates with one
batch size), so two builds from the same folder see the same tensors in the same order.
`CalibrationCache` is the reusable table TensorRT writes after calibrating; when it exists the
calibrator hands it back and TensorRT skips calibration. `make_entropy_calibrator` subclasses
`tensorrt.IInt8EntropyCalibrator2` lazily, so this module imports without TensorRT.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.inference.errors import ArtifactError
from edge.vision.letterbox import preprocess_batch

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

ImageReader = Callable[[Path], npt.NDArray[np.uint8] | None]


def _read_bgr(path: Path) -> npt.NDArray[np.uint8] | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, dtype=np.uint8)


@dataclass(frozen=True)
class CalibrationBatches:
    """Calibration tensors [batch_size, 3, H, W] from image files, in file-name order."""

    files: tuple[Path, ...]
    batch_size: int
    input_size: tuple[int, int]  # (height, width)
    pad_value: int = 114
    read_image: ImageReader = _read_bgr

    def __post_init__(self) -> None:
        if self.batch_size <= 0:
            raise ValueError("batch_size must be positive")

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        batch_size: int,
        input_size: tuple[int, int],
        *,
        max_images: int | None = None,
        suffixes: Sequence[str] = IMAGE_SUFFIXES,
        pad_value: int = 114,
    ) -> CalibrationBatches:
        """Images under `folder` (recursively), sorted by path, at most `max_images`."""
        root = Path(folder)
        if not root.is_dir():
            raise ArtifactError(f"calibration folder {root} does not exist")
        wanted = {s.lower() for s in suffixes}
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
        if max_images is not None:
            files = files[:max_images]
        return cls(files=tuple(files), batch_size=batch_size, input_size=input_size, pad_value=pad_value)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The shape of every batch."""
        return (self.batch_size, 3, *self.input_size)

    def __len__(self) -> int:
        return len(self.files) // self.batch_size

    def __iter__(self) -> Iterator[npt.NDArray[np.float32]]:
        for index in range(len(self)):
            paths = self.files[index * self.batch_size : (index + 1) * self.batch_size]
            images = []
            for path in paths:
                image = self.read_image(path)
                if image is None:
                    raise ArtifactError(f"cannot read calibration image {path}")
                images.append(image)
            batch, _ = preprocess_batch(images, self.input_size, pad_value=self.pad_value)
            yield batch


@dataclass(frozen=True, slots=True)
class CalibrationCache:
    """The calibration table file TensorRT writes and reads back."""

    path: Path

    def read(self) -> bytes | None:
        """The cached table, or None when there is none yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return data or None

    def write(self, data: bytes) -> None:
        """Store a table (atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(self.path)


def make_entropy_calibrator(batches: CalibrationBatches | None, cache: CalibrationCache) -> Any:
    """An `IInt8EntropyCalibrator2` over `batches` (None: only the existing cache may be used)."""
    from edge.inference.cuda_runtime import DeviceBuffer
    from edge.inference.tensorrt_backend import import_tensorrt

    trt = import_tensorrt()
    if batches is None and cache.read() is None:
        raise ArtifactError(f"int8 build needs calibration images or an existing cache at {cache.path}")

    base: Any = trt.IInt8EntropyCalibrator2

    class EntropyCalibrator(base):
        """Feeds calibration batches to TensorRT through one device buffer."""

        def __init__(self) -> None:
            base.__init__(self)
            self._batches = iter(batches) if batches is not None else iter(())
            self._count = 0
            self._device: DeviceBuffer | None = None
            if batches is not None:
                self._device = DeviceBuffer(int(np.prod(batches.shape)) * 4)

        def get_batch_size(self) -> int:
            return batches.batch_size if batches is not None else 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self._batches, None)
            if batch is None or self._device is None:
                log.info("calibration done after %d batches", self._count)
                return None
            self._device.copy_from(batch)
            self._count += 1
            return [self._device.ptr]

        def read_calibration_cache(self) -> bytes | None:
            data = cache.read()
            if data is not None:
                log.info("using calibration cache %s", cache.path)
            return data

        def write_calibration_cache(self, data: Any) -> None:
            cache.write(bytes(data))
            log.info("wrote calibration cache %s", cache.path)

        def free(self) -> None:
            if self._device is not None:
                self._device.free()

    return EntropyCalibrator()
