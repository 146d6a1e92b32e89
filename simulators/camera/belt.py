"""The conveyor under the camera: belt surfaces that scroll with time, and the static side rails."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from simulators.camera.materials import Bgr


@dataclass(frozen=True)
class BeltKind:
    """A belt surface: colour (BGR reflectance), weave and wear amplitudes, debris density."""

    name: str
    color: Bgr
    weave: float
    grain: float
    wear: float
    debris_per_mpx: float


BELTS: dict[str, BeltKind] = {
    "dark_rubber": BeltKind("dark_rubber", (0.085, 0.09, 0.095), 0.06, 0.12, 0.035, 60.0),
    "green_pvc": BeltKind("green_pvc", (0.15, 0.30, 0.17), 0.05, 0.06, 0.03, 40.0),
    "grey_pvc": BeltKind("grey_pvc", (0.27, 0.28, 0.28), 0.05, 0.06, 0.025, 40.0),
    "blue_pu": BeltKind("blue_pu", (0.40, 0.27, 0.13), 0.03, 0.05, 0.025, 30.0),
}
RAIL_FRACTION = 0.065


def rail_height(height: int) -> int:
    """Rows taken by each side rail at the top and bottom of the image."""
    return max(3, round(RAIL_FRACTION * height))


def belt_tile(kind: BeltKind, height: int, length: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A height x length x 3 float32 belt surface (reflectance); the camera sees a scrolling window of it."""
    shape = (height, length)
    weave_x = np.sin(np.arange(length, dtype=np.float32) * (2 * np.pi / max(2.5 * scale, 2.1)))
    weave_y = np.sin(np.arange(height, dtype=np.float32) * (2 * np.pi / max(3.0 * scale, 2.3)))
    luma = 1.0 + kind.weave * np.outer(weave_y, weave_x)
    fine = rng.standard_normal(shape, dtype=np.float32)
    luma += kind.grain * cv2.GaussianBlur(fine, (0, 0), max(0.7 * scale, 0.5))
    wear = cv2.GaussianBlur(
        rng.standard_normal(shape, dtype=np.float32), (0, 0), 25.0 * scale, sigmaY=2.0 * scale
    )
    luma += kind.wear * wear / max(float(wear.std()), 1e-6)
    blotch = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 30.0 * scale)
    luma += 1.5 * kind.wear * blotch / max(float(blotch.std()), 1e-6)
    surface = luma[..., None] * np.asarray(kind.color, np.float32)
    _scatter_debris(surface, kind.debris_per_mpx, scale, rng)
    return np.clip(surface, 0.0, 1.5).astype(np.float32)


def _scatter_debris(surface: np.ndarray, per_mpx: float, scale: float, rng: np.random.Generator) -> None:
    """Dust specks and small bright metal chips lying on the belt (not defects: never labelled)."""
    height, length = surface.shape[:2]
    n = int(per_mpx * height * length / 1e6)
    overlay = np.zeros((height, length), np.uint8)
    chips = np.zeros((height, length), np.uint8)
    for _ in range(n):
        x, y = rng.uniform(0, length), rng.uniform(0, height)
        if rng.random() < 0.7:
            radius = rng.uniform(0.6, 2.2) * scale
            cv2.circle(
                overlay, (int(x * 16), int(y * 16)), int(max(radius, 0.5) * 16), 255, -1, cv2.LINE_AA, 4
            )
        else:
            size = rng.uniform(3, 9) * scale
            angle = rng.uniform(0, 180)
            axes = (int(max(size, 1.5) * 16), int(max(size * rng.uniform(0.3, 0.8), 1.0) * 16))
            start = rng.uniform(0, 180)
            cv2.ellipse(
                chips, (int(x * 16), int(y * 16)), axes, angle, start, start + 160, 255, 1, cv2.LINE_AA, 4
            )
    dark = overlay.astype(np.float32)[..., None] / 255.0
    bright = chips.astype(np.float32)[..., None] / 255.0
    surface *= 1.0 - 0.55 * dark
    surface += bright * (np.float32(0.55) - surface)


def rail_strip(height: int, width: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A height x width x 3 float32 brushed-steel guide rail with bolt heads, its belt edge at the bottom."""
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)
    luma = 0.50 + 0.10 * np.sin(rows * np.pi)[:, None] * np.ones((1, width), np.float32)
    streaks = cv2.GaussianBlur(
        rng.standard_normal((height, width), dtype=np.float32), (0, 0), 30 * scale, sigmaY=0.5
    )
    luma += 0.05 * streaks / max(float(streaks.std()), 1e-6)
    luma[-max(1, height // 8) :] *= 0.35
    strip = np.repeat(luma[..., None], 3, axis=2) * np.asarray((0.98, 1.0, 1.0), np.float32)
    pitch = max(24, int(160 * scale))
    radius = max(1.5, 0.22 * height)
    for x in np.arange(rng.uniform(0, pitch), width, pitch):
        centre = (int(x * 16), int(height * 0.45 * 16))
        cv2.circle(strip, centre, int(radius * 16), (0.30, 0.30, 0.30), -1, cv2.LINE_AA, 4)
        cv2.circle(strip, centre, int(radius * 0.6 * 16), (0.62, 0.62, 0.62), -1, cv2.LINE_AA, 4)
    return strip.astype(np.float32)
