"""Letterboxing as ultralytics does it, the batch tensor the detector eats, and boxes mapped back.

`letterbox_transform` is the arithmetic of ultralytics' `LetterBox(auto=False, scale_fill=False)`:
one gain for both axes, `round()` for the resized size, the padding split in two with the
`round(d - 0.1)` / `round(d + 0.1)` rule, so odd paddings put the extra pixel at the bottom/right.
`letterbox` applies it with OpenCV; `scale_boxes` undoes it for detections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Shape2D = tuple[int, int]  # (height, width)


@dataclass(frozen=True, slots=True)
class LetterboxTransform:
    """How one frame was mapped into the model input: x_in = x_orig * ratio + pad."""

    orig_shape: Shape2D  # (height, width) of the frame
    new_shape: Shape2D  # (height, width) of the model input
    ratio: float  # gain, new / old, the same for both axes
    pad: tuple[int, int]  # (left, top) in pixels of the model input
    resized: Shape2D  # (height, width) of the frame after resizing, before padding

    @property
    def padding(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) borders in pixels."""
        left, top = self.pad
        bottom = self.new_shape[0] - self.resized[0] - top
        right = self.new_shape[1] - self.resized[1] - left
        return top, bottom, left, right


def letterbox_transform(
    orig_shape: Shape2D, new_shape: Shape2D, *, scaleup: bool = True, center: bool = True
) -> LetterboxTransform:
    """The letterbox arithmetic for a frame of `orig_shape` into `new_shape`, both (height, width)."""
    h, w = orig_shape
    nh, nw = new_shape
    if min(h, w, nh, nw) <= 0:
        raise ValueError(f"shapes must be positive, got {orig_shape} -> {new_shape}")
    r = min(nh / h, nw / w)
    if not scaleup:
        r = min(r, 1.0)
    unpad_w, unpad_h = round(w * r), round(h * r)
    dw: float = nw - unpad_w
    dh: float = nh - unpad_h
    if center:
        dw /= 2
        dh /= 2
    top = round(dh - 0.1) if center else 0
    left = round(dw - 0.1) if center else 0
    return LetterboxTransform(
        orig_shape=(h, w), new_shape=(nh, nw), ratio=r, pad=(left, top), resized=(unpad_h, unpad_w)
    )


def letterbox(
    image: npt.NDArray[np.uint8],
    new_shape: Shape2D = (640, 640),
    *,
    pad_value: int = 114,
    scaleup: bool = True,
    center: bool = True,
    interpolation: int = cv2.INTER_LINEAR,
) -> tuple[npt.NDArray[np.uint8], LetterboxTransform]:
    """Resize keeping the aspect ratio and pad to `new_shape` (height, width) with `pad_value`."""
    transform = letterbox_transform(image.shape[:2], new_shape, scaleup=scaleup, center=center)
    out: np.ndarray = image
    if out.shape[:2] != transform.resized:
        size_wh = (transform.resized[1], transform.resized[0])
        out = cv2.resize(out, size_wh, interpolation=interpolation)
    if out.ndim == 2:
        out = out[..., None]
    top, bottom, left, right = transform.padding
    if out.shape[2] == 3:
        out = cv2.copyMakeBorder(out, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    else:
        padded = np.full((*transform.new_shape, out.shape[2]), pad_value, dtype=out.dtype)
        padded[top : top + out.shape[0], left : left + out.shape[1]] = out
        out = padded
    return np.asarray(out, dtype=np.uint8), transform


def preprocess_batch(
    images: Sequence[npt.NDArray[np.uint8]],
    new_shape: Shape2D = (640, 640),
    *,
    pad_value: int = 114,
    input_order: str = "BGR",
    output_order: str = "RGB",
    scale: float = 1.0 / 255.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[npt.NDArray[np.float32], tuple[LetterboxTransform, ...]]:
    """Letterbox 3-channel frames into one float32 NCHW batch, channels reordered and scaled."""
    if not images:
        raise ValueError("preprocess_batch needs at least one image")
    boxed = [letterbox(image, new_shape, pad_value=pad_value) for image in images]
    stacked = np.stack([b[0] for b in boxed])  # B, H, W, C
    if stacked.shape[-1] != 3:
        raise ValueError(f"expected 3-channel images, got {stacked.shape[-1]} channels")
    if input_order.upper() != output_order.upper():
        stacked = stacked[..., ::-1]
    batch = np.ascontiguousarray(stacked.transpose(0, 3, 1, 2), dtype=np.float32)
    batch *= np.float32(scale)
    if mean is not None:
        batch -= np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    if std is not None:
        batch /= np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return batch, tuple(b[1] for b in boxed)


def clip_boxes(boxes: npt.NDArray[np.float32], shape: Shape2D) -> npt.NDArray[np.float32]:
    """Clip xyxy boxes in place to an image of `shape` (height, width) and return them."""
    boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, shape[1])
    boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, shape[0])
    return boxes


def scale_boxes(boxes: npt.ArrayLike, transform: LetterboxTransform) -> npt.NDArray[np.float32]:
    """Map xyxy boxes from model-input pixels back to the original frame, clipped to it."""
    out = np.array(boxes, dtype=np.float32, copy=True).reshape(-1, 4)
    left, top = transform.pad
    out[:, [0, 2]] -= left
    out[:, [1, 3]] -= top
    out /= np.float32(transform.ratio)
    return clip_boxes(out, transform.orig_shape)


def letterbox_boxes(boxes: npt.ArrayLike, transform: LetterboxTransform) -> npt.NDArray[np.float32]:
    """Map xyxy boxes from the original frame into model-input pixels (the inverse of scale_boxes)."""
    out = np.array(boxes, dtype=np.float32, copy=True).reshape(-1, 4)
    out *= np.float32(transform.ratio)
    left, top = transform.pad
    out[:, [0, 2]] += left
    out[:, [1, 3]] += top
    return out
