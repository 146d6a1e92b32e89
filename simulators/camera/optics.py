"""The camera between scene and pixels: motion blur, defocus, exposure, sensor noise, quantization.

Every step is either linear (the blur) or applied identically to a frame with and without a defect
(the noise is a fixed field for the frame), so the pixels a defect changes can be computed from the
defect's own patch: blur the patch's change, add it to the frame's pre-quantization values, and see
which 8-bit pixels come out different. That is the box rule (docs/CAMERA.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

NOISE_MARGIN = 64


@dataclass(frozen=True)
class OpticsState:
    """One frame's optics: motion blur along the belt (px), defocus sigma, exposure gain, noise (DN)."""

    motion: int
    defocus: float
    gain: float
    noise: float
    noise_x: int
    noise_y: int

    def kernels(self) -> tuple[np.ndarray, np.ndarray]:
        """Separable kernels (along x, along y): a box of ``motion`` px convolved with the defocus."""
        blur = _gauss3(self.defocus)
        kx = np.convolve(np.full(self.motion, 1.0 / self.motion), blur)
        return kx.astype(np.float32), blur.astype(np.float32)

    @property
    def reach(self) -> tuple[int, int]:
        """How far (x, y) in pixels a change can spread through the blur."""
        kx, ky = self.kernels()
        return len(kx), len(ky)

    @property
    def scale(self) -> float:
        """Scene radiance to 8-bit digital numbers."""
        return 255.0 * self.gain


def _gauss3(sigma: float) -> np.ndarray:
    """A normalized 3-tap Gaussian."""
    side = math.exp(-1.0 / (2.0 * max(sigma, 1e-3) ** 2))
    return np.array([side, 1.0, side]) / (1.0 + 2.0 * side)


def sample_optics(rng: np.random.Generator, intensity: float, scale: float) -> OpticsState:
    """Exposure follows the light part-way (auto exposure), and more gain brings more noise."""
    longest = max(1, round(11 * scale))
    motion = 1 + int(rng.triangular(0, 0, longest))
    gain = float(rng.uniform(0.88, 1.12) / intensity**0.75)
    read = rng.uniform(1.0, 2.5)
    shot = math.sqrt(0.2 * 110.0 * gain)
    return OpticsState(
        motion=min(motion, longest),
        defocus=float(rng.uniform(0.3, 0.85)),
        gain=gain,
        noise=float(math.hypot(read, shot)),
        noise_x=int(rng.integers(0, NOISE_MARGIN)),
        noise_y=int(rng.integers(0, NOISE_MARGIN)),
    )


def noise_bank(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A (H+64)x(W+64)x3 float32 field of unit Gaussian noise; each frame reads a shifted window."""
    return rng.standard_normal((height + NOISE_MARGIN, width + NOISE_MARGIN, 3), dtype=np.float32)


def expose(
    scene: np.ndarray, optics: OpticsState, bank: np.ndarray, blurred: np.ndarray, noisy: np.ndarray
) -> np.ndarray:
    """Blur ``scene`` into ``blurred``, add the frame's noise into ``noisy``, and quantize to uint8 BGR."""
    kx, ky = optics.kernels()
    cv2.sepFilter2D(scene, cv2.CV_32F, kx, ky, dst=blurred, borderType=cv2.BORDER_REFLECT_101)
    height, width = scene.shape[:2]
    window = bank[optics.noise_y : optics.noise_y + height, optics.noise_x : optics.noise_x + width]
    cv2.scaleAdd(window, optics.noise / optics.scale, blurred, dst=noisy)
    return cv2.convertScaleAbs(noisy, alpha=optics.scale)


def spread(delta: np.ndarray, optics: OpticsState) -> np.ndarray:
    """A patch's change after the blur, on the patch grown by the kernel lengths on every side."""
    kx, ky = optics.kernels()
    px, py = len(kx), len(ky)
    h, w = delta.shape[:2]
    padded = np.zeros((h + 2 * py, w + 2 * px, 3), np.float32)
    padded[py : py + h, px : px + w] = delta
    return cv2.sepFilter2D(padded, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_CONSTANT)


def visible_pixels(delta: np.ndarray, optics: OpticsState, threshold_dn: float) -> int:
    """How many pixels the change moves by at least ``threshold_dn`` digital numbers after the blur."""
    change = np.abs(spread(delta, optics)).max(axis=2) * np.float32(optics.scale)
    return int(np.count_nonzero(change >= threshold_dn))


def changed_box(
    delta: np.ndarray, x0: int, y0: int, optics: OpticsState, noisy: np.ndarray
) -> tuple[int, int, int, int] | None:
    """Box (x1, y1, x2, y2 exclusive) of the 8-bit pixels that ``delta`` at (x0, y0) changed, or None."""
    px, py = optics.reach
    h, w = delta.shape[:2]
    blurred = spread(delta, optics)
    height, width = noisy.shape[:2]
    gx0, gy0 = max(x0 - px, 0), max(y0 - py, 0)
    gx1, gy1 = min(x0 + w + px, width), min(y0 + h + py, height)
    blurred = blurred[gy0 - (y0 - py) : gy1 - (y0 - py), gx0 - (x0 - px) : gx1 - (x0 - px)]
    with_defect = noisy[gy0:gy1, gx0:gx1]
    before = cv2.convertScaleAbs(with_defect - blurred, alpha=optics.scale)
    after = cv2.convertScaleAbs(with_defect, alpha=optics.scale)
    rows, cols = np.nonzero((before != after).any(axis=2))
    if rows.size == 0:
        return None
    return gx0 + int(cols.min()), gy0 + int(rows.min()), gx0 + int(cols.max()) + 1, gy0 + int(rows.max()) + 1
