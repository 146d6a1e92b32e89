"""Letterboxing: ultralytics arithmetic by hand-computed tables, pixels, batches and box round trips."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.letterbox import (
    LetterboxTransform,
    letterbox,
    letterbox_boxes,
    letterbox_transform,
    preprocess_batch,
    scale_boxes,
)


@pytest.mark.parametrize(
    ("orig", "new", "kwargs", "ratio", "pad", "resized"),
    [
        ((480, 640), (640, 640), {}, 1.0, (0, 80), (480, 640)),
        ((720, 1280), (640, 640), {}, 0.5, (0, 140), (360, 640)),
        ((1080, 1920), (640, 640), {}, 1 / 3, (0, 140), (360, 640)),
        # odd padding 317: 158 on top, 159 at the bottom (round(158.4), round(158.6))
        ((101, 200), (640, 640), {}, 3.2, (0, 158), (323, 640)),
        ((100, 200), (640, 640), {"scaleup": False}, 1.0, (220, 270), (100, 200)),
        ((480, 640), (640, 640), {"center": False}, 1.0, (0, 0), (480, 640)),
        ((480, 640), (384, 640), {}, 0.8, (64, 0), (384, 512)),
        # round(2.5) == 2 (Python rounds half to even, as ultralytics does)
        ((5, 20), (10, 10), {}, 0.5, (0, 4), (2, 10)),
        ((640, 640), (640, 640), {}, 1.0, (0, 0), (640, 640)),
    ],
)
def test_transform_table(
    orig: tuple[int, int],
    new: tuple[int, int],
    kwargs: dict[str, bool],
    ratio: float,
    pad: tuple[int, int],
    resized: tuple[int, int],
) -> None:
    t = letterbox_transform(orig, new, **kwargs)
    assert t.ratio == pytest.approx(ratio)
    assert t.pad == pad
    assert t.resized == resized
    top, bottom, left, right = t.padding
    assert top + bottom + resized[0] == new[0]
    assert left + right + resized[1] == new[1]


def test_odd_padding_goes_to_bottom() -> None:
    assert letterbox_transform((101, 200), (640, 640)).padding == (158, 159, 0, 0)


def test_invalid_shape() -> None:
    with pytest.raises(ValueError, match="positive"):
        letterbox_transform((0, 10), (640, 640))


def test_letterbox_pixels() -> None:
    image = np.full((4, 8, 3), 200, np.uint8)
    out, t = letterbox(image, (8, 8))
    assert out.shape == (8, 8, 3)
    assert t.pad == (0, 2)
    assert (out[:2] == 114).all()
    assert (out[2:6] == 200).all()
    assert (out[6:] == 114).all()


def test_letterbox_resizes_and_pads_with_value() -> None:
    image = np.full((720, 1280, 3), 7, np.uint8)
    out, t = letterbox(image, (640, 640), pad_value=0)
    assert out.shape == (640, 640, 3)
    assert (out[:140] == 0).all()
    assert (out[140:500] == 7).all()
    assert (out[500:] == 0).all()
    assert t.orig_shape == (720, 1280)


def test_letterbox_grayscale_and_four_channels() -> None:
    gray, _ = letterbox(np.full((4, 8), 9, np.uint8), (8, 8))
    assert gray.shape == (8, 8, 1)
    assert gray[0, 0, 0] == 114
    assert gray[4, 4, 0] == 9
    rgba, _ = letterbox(np.full((4, 8, 4), 9, np.uint8), (8, 8))
    assert rgba.shape == (8, 8, 4)
    assert (rgba[0] == 114).all()
    assert (rgba[3] == 9).all()


def test_preprocess_batch_layout_order_and_scale() -> None:
    bgr = np.zeros((4, 8, 3), np.uint8)
    bgr[...] = (10, 20, 30)  # B, G, R
    batch, transforms = preprocess_batch([bgr, bgr], (8, 8))
    assert batch.shape == (2, 3, 8, 8)
    assert batch.dtype == np.float32
    assert batch.flags.c_contiguous
    np.testing.assert_allclose(batch[1, :, 4, 4], np.array([30, 20, 10]) / 255, rtol=1e-6)
    np.testing.assert_allclose(batch[0, :, 0, 0], np.full(3, 114 / 255), rtol=1e-6)
    assert len(transforms) == 2
    assert transforms[0].pad == (0, 2)


def test_preprocess_batch_mean_std_and_same_order() -> None:
    bgr = np.full((8, 8, 3), (10, 20, 30), np.uint8)
    batch, _ = preprocess_batch(
        [bgr], (8, 8), output_order="BGR", scale=1.0, mean=(10, 20, 30), std=(2, 4, 5)
    )
    np.testing.assert_allclose(batch[0, :, 3, 3], [0, 0, 0])
    batch, _ = preprocess_batch([bgr], (8, 8), scale=1.0, mean=(0, 0, 0), std=(2, 4, 5))
    np.testing.assert_allclose(batch[0, :, 3, 3], [15, 5, 2])


def test_preprocess_batch_refuses_empty_and_gray() -> None:
    with pytest.raises(ValueError, match="at least one"):
        preprocess_batch([], (8, 8))
    with pytest.raises(ValueError, match="3-channel"):
        preprocess_batch([np.zeros((4, 4), np.uint8)], (8, 8))


T_720P = letterbox_transform((720, 1280), (640, 640))  # ratio 0.5, pad (0, 140)


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([[100, 200, 300, 400]], [[200, 120, 600, 520]]),
        ([[0, 140, 640, 500]], [[0, 0, 1280, 720]]),
        ([[-10, 100, 700, 900]], [[0, 0, 1280, 720]]),  # clipped to the frame
        (np.zeros((0, 4)), np.zeros((0, 4))),
    ],
)
def test_scale_boxes_by_hand(boxes: list[list[float]], expected: list[list[float]]) -> None:
    out = scale_boxes(np.asarray(boxes, np.float32), T_720P)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.asarray(expected, np.float32).reshape(-1, 4))


def test_scale_boxes_does_not_touch_input() -> None:
    boxes = np.array([[100, 200, 300, 400]], np.float32)
    scale_boxes(boxes, T_720P)
    np.testing.assert_array_equal(boxes, [[100, 200, 300, 400]])


@pytest.mark.parametrize(
    ("orig", "new"),
    [((720, 1280), (640, 640)), ((101, 200), (640, 640)), ((480, 640), (384, 640)), ((300, 90), (640, 480))],
)
def test_round_trip(orig: tuple[int, int], new: tuple[int, int]) -> None:
    h, w = orig
    boxes = np.array([[0, 0, w, h], [w * 0.1, h * 0.2, w * 0.5, h * 0.9], [3.5, 4.25, 10, 11]], np.float32)
    t = letterbox_transform(orig, new)
    inside = letterbox_boxes(boxes, t)
    top, bottom, left, right = t.padding
    slack = 0.5  # the resized size is rounded to whole pixels (101 * 3.2 = 323.2 -> 323)
    assert (inside[:, [0, 2]] >= left - slack).all()
    assert (inside[:, [0, 2]] <= new[1] - right + slack).all()
    assert (inside[:, [1, 3]] >= top - slack).all()
    assert (inside[:, [1, 3]] <= new[0] - bottom + slack).all()
    np.testing.assert_allclose(scale_boxes(inside, t), boxes, atol=1e-3)


def test_transform_is_frozen() -> None:
    t = LetterboxTransform((1, 1), (1, 1), 1.0, (0, 0), (1, 1))
    with pytest.raises(AttributeError):
        t.ratio = 2.0  # type: ignore[misc]
