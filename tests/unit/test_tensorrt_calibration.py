"""INT8 calibration data: fixed order, fixed batch shape, our preprocessing, and the cache file."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.inference.errors import ArtifactError, BackendUnavailable
from edge.inference.trt_calibration import CalibrationBatches, CalibrationCache, make_entropy_calibrator
from edge.vision.letterbox import preprocess_batch


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Seven small images whose pixel value encodes their sorted position; one non-image file."""
    folder = tmp_path / "calib"
    (folder / "sub").mkdir(parents=True)
    names = ["b.png", "a.jpg", "sub/c.png", "d.PNG", "e.bmp", "f.png", "g.png"]
    for value, name in zip([20, 10, 60, 30, 40, 50, 70], names, strict=True):
        image = np.full((24, 32, 3), value, np.uint8)
        cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_files_are_sorted_and_filtered(image_folder: Path) -> None:
    batches = CalibrationBatches.from_folder(image_folder, batch_size=2, input_size=(32, 32))
    assert [p.relative_to(image_folder).as_posix() for p in batches.files] == [
        "a.jpg",
        "b.png",
        "d.PNG",
        "e.bmp",
        "f.png",
        "g.png",
        "sub/c.png",
    ]


def test_batches_have_fixed_shape_order_and_drop_the_remainder(image_folder: Path) -> None:
    batches = CalibrationBatches.from_folder(image_folder, batch_size=3, input_size=(32, 32))
    assert len(batches) == 2  # 7 images -> two batches of 3, one image left out
    assert batches.shape == (3, 3, 32, 32)
    got = list(batches)
    assert [b.shape for b in got] == [(3, 3, 32, 32)] * 2
    assert all(b.dtype == np.float32 for b in got)
    centre = [round(float(b[i, 0, 16, 16]) * 255) for b in got for i in range(3)]
    assert centre == [10, 20, 30, 40, 50, 70]
    assert [round(float(b[0, 0, 0, 0]) * 255) for b in got] == [114, 114]  # letterbox pad rows
    assert np.array_equal(got[0], next(iter(batches)))  # the same tensors every time


def test_batches_use_the_detector_preprocessing(image_folder: Path) -> None:
    batches = CalibrationBatches.from_folder(image_folder, batch_size=2, input_size=(64, 64))
    first = next(iter(batches))
    images = [np.asarray(cv2.imread(str(p)), np.uint8) for p in batches.files[:2]]
    expected, _ = preprocess_batch(images, (64, 64))
    np.testing.assert_array_equal(first, expected)


def test_max_images_and_bad_inputs(image_folder: Path, tmp_path: Path) -> None:
    assert len(CalibrationBatches.from_folder(image_folder, 2, (32, 32), max_images=4).files) == 4
    with pytest.raises(ArtifactError, match="does not exist"):
        CalibrationBatches.from_folder(tmp_path / "missing", 2, (32, 32))
    with pytest.raises(ValueError, match="batch_size"):
        CalibrationBatches(files=(), batch_size=0, input_size=(32, 32))
    broken = CalibrationBatches(files=(tmp_path / "x.png",), batch_size=1, input_size=(32, 32))
    with pytest.raises(ArtifactError, match="cannot read calibration image"):
        list(broken)


def test_cache_file_round_trip(tmp_path: Path) -> None:
    cache = CalibrationCache(tmp_path / "nested" / "defects.calib")
    assert cache.read() is None
    cache.write(b"TRT-8602-EntropyCalibration2\nimages: 3c010a14\n")
    assert cache.read() == b"TRT-8602-EntropyCalibration2\nimages: 3c010a14\n"
    cache.path.write_bytes(b"")
    assert cache.read() is None  # an empty file is no table


def test_calibrator_needs_tensorrt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendUnavailable):
        make_entropy_calibrator(None, CalibrationCache(tmp_path / "c.calib"))
