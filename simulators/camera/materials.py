"""Surface materials of the parts and their procedural texture tiles (grain, brushing, pores, tarnish)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Bgr = tuple[float, float, float]

# A texture tile is HxWx3 uint8: channel 0 isotropic luminance (128 = 1.0), channel 1 brushing
# streaks (128 + 40 per standard deviation), channel 2 tarnish amount (0..255).
LUMA, BRUSH, TARNISH = 0, 1, 2
BRUSH_SCALE = 40.0


@dataclass(frozen=True)
class Material:
    """How a surface looks: base colours (BGR reflectance), texture amplitudes, how defects show on it."""

    name: str
    colors: tuple[Bgr, ...]
    color_jitter: float
    grain: float
    mottle: float
    brushing: float
    porosity: float
    turning: float
    tarnish_color: Bgr | None
    tarnish: float
    sheen: float
    scratch_color: Bgr | None

    @property
    def coated(self) -> bool:
        """Paint or anodizing: a scratch shows the bare metal underneath."""
        return self.scratch_color is not None


MATERIALS: dict[str, Material] = {
    "brushed_aluminium": Material(
        name="brushed_aluminium",
        colors=((0.70, 0.71, 0.70), (0.64, 0.65, 0.65), (0.77, 0.77, 0.75)),
        color_jitter=0.05,
        grain=0.035,
        mottle=0.03,
        brushing=0.09,
        porosity=0.0,
        turning=0.08,
        tarnish_color=None,
        tarnish=0.0,
        sheen=0.22,
        scratch_color=None,
    ),
    "cast_iron": Material(
        name="cast_iron",
        colors=((0.30, 0.31, 0.32), (0.36, 0.36, 0.37), (0.25, 0.26, 0.27)),
        color_jitter=0.06,
        grain=0.11,
        mottle=0.08,
        brushing=0.015,
        porosity=5.0,
        turning=0.06,
        tarnish_color=(0.15, 0.20, 0.26),
        tarnish=0.15,
        sheen=0.08,
        scratch_color=None,
    ),
    "painted_steel": Material(
        name="painted_steel",
        colors=(
            (0.10, 0.11, 0.60),  # signal red
            (0.20, 0.42, 0.12),  # machine green
            (0.08, 0.60, 0.78),  # safety yellow
            (0.52, 0.28, 0.08),  # gentian blue
            (0.66, 0.68, 0.67),  # light grey
            (0.05, 0.33, 0.80),  # orange
        ),
        color_jitter=0.04,
        grain=0.03,
        mottle=0.04,
        brushing=0.0,
        porosity=0.0,
        turning=0.0,
        tarnish_color=None,
        tarnish=0.0,
        sheen=0.10,
        scratch_color=(0.62, 0.63, 0.63),
    ),
    "anodized_blue": Material(
        name="anodized_blue",
        colors=((0.62, 0.34, 0.11), (0.54, 0.28, 0.09), (0.70, 0.44, 0.19)),
        color_jitter=0.05,
        grain=0.03,
        mottle=0.04,
        brushing=0.05,
        porosity=0.0,
        turning=0.05,
        tarnish_color=None,
        tarnish=0.0,
        sheen=0.15,
        scratch_color=(0.82, 0.82, 0.80),
    ),
    # Held out: never rendered for train/val/test, only for the held-out set.
    "copper": Material(
        name="copper",
        colors=((0.28, 0.44, 0.72), (0.24, 0.38, 0.66), (0.34, 0.52, 0.80)),
        color_jitter=0.05,
        grain=0.04,
        mottle=0.05,
        brushing=0.07,
        porosity=0.0,
        turning=0.07,
        tarnish_color=(0.22, 0.30, 0.48),
        tarnish=0.18,
        sheen=0.25,
        scratch_color=None,
    ),
}
TRAIN_MATERIALS: tuple[str, ...] = ("brushed_aluminium", "cast_iron", "painted_steel", "anodized_blue")
HELDOUT_MATERIAL = "copper"


def material(name: str) -> Material:
    """The material called ``name``."""
    try:
        return MATERIALS[name]
    except KeyError:
        raise ValueError(f"unknown material {name!r}; known: {', '.join(MATERIALS)}") from None


def _unit_noise(rng: np.random.Generator, size: int, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Gaussian noise low-passed with the given sigmas and rescaled to unit standard deviation."""
    noise: np.ndarray = rng.standard_normal((size, size), dtype=np.float32)
    if sigma_x > 0 or sigma_y > 0:
        noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(sigma_x, 0.1), sigmaY=max(sigma_y, 0.1))
    std = float(noise.std())
    return noise / std if std > 0 else noise


def texture_tile(mat: Material, size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A size x size x 3 uint8 texture tile of ``mat`` (luma, brushing, tarnish) at pixel ``scale``."""
    luma = 1.0 + mat.grain * _unit_noise(rng, size, 0.6 * scale, 0.6 * scale)
    luma += 0.5 * mat.grain * _unit_noise(rng, size, 2.0 * scale, 2.0 * scale)
    luma += mat.mottle * _unit_noise(rng, size, 24.0 * scale, 24.0 * scale)
    if mat.porosity > 0:
        luma = _add_pores(luma, mat.porosity, scale, rng)
    brush = _unit_noise(rng, size, 40.0 * scale, 0.45 * scale)
    brush += 0.6 * _unit_noise(rng, size, 160.0 * scale, 1.2 * scale)
    brush /= float(brush.std())
    tile = np.empty((size, size, 3), np.uint8)
    tile[..., LUMA] = np.clip(luma * 128.0, 0, 255)
    tile[..., BRUSH] = np.clip(128.0 + BRUSH_SCALE * brush, 0, 255)
    if mat.tarnish > 0:
        blotch = _unit_noise(rng, size, 40.0 * scale, 40.0 * scale)
        blotch += 0.4 * _unit_noise(rng, size, 6.0 * scale, 6.0 * scale)
        tile[..., TARNISH] = np.clip((blotch - 0.6) * 160.0, 0, 255)
    else:
        tile[..., TARNISH] = 0
    return tile


def _add_pores(luma: np.ndarray, per_10k_px: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Casting porosity: clusters of small dark pits with a faint bright lip."""
    size = luma.shape[0]
    n = int(per_10k_px * size * size / 10_000)
    pits = np.zeros((size, size), np.uint8)
    centers = rng.uniform(0, size, (max(n // 6, 1), 2))
    for _ in range(n):
        cx, cy = centers[rng.integers(len(centers))] + rng.normal(0, 30 * scale, 2)
        radius = max(0.6, rng.uniform(0.5, 1.8) * scale)
        cv2.circle(pits, (int(cx * 16), int(cy * 16)), int(radius * 16), 255, -1, cv2.LINE_AA, shift=4)
    depth = pits.astype(np.float32) / 255.0
    return luma * (1.0 - 0.7 * depth)


def ring_tile(size: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Concentric tool marks of a turned face, centred in a size x size float32 tile (zero mean)."""
    np.arange(size, dtype=np.float32)
    feed = rng.uniform(2.2, 3.4) * max(scale, 0.35)
    phase = np.cumsum(rng.normal(1.0, 0.04, size).astype(np.float32)) * (2 * np.pi / feed)
    bands = cv2.GaussianBlur(rng.standard_normal((1, size)).astype(np.float32), (0, 0), 12.0 * scale)
    profile = np.sin(phase) * (0.6 + 0.4 * np.tanh(bands[0] / max(float(bands.std()), 1e-6)))
    profile += 0.5 * bands[0] / max(float(bands.std()), 1e-6)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = (size - 1) / 2.0
    r = np.sqrt((xx - centre) ** 2 + (yy - centre) ** 2)
    index = np.minimum(r.astype(np.int32), size - 1)
    return (profile[index] / max(float(np.abs(profile).max()), 1e-6)).astype(np.float32)


def albedo_matrix(mat: Material, color: Bgr, tarnish_amount: float, *, brushed: bool = True) -> np.ndarray:
    """The 3x4 cv2.transform matrix that turns a warped texture tile into BGR reflectance."""
    base = np.asarray(color, np.float64)
    brushing = mat.brushing if brushed else 0.0
    m = np.zeros((3, 4), np.float64)
    m[:, LUMA] = base / 128.0
    m[:, BRUSH] = base * brushing / BRUSH_SCALE
    m[:, 3] = -base * brushing * 128.0 / BRUSH_SCALE
    if mat.tarnish_color is not None:
        m[:, TARNISH] = (np.asarray(mat.tarnish_color) - base) * (2.0 * mat.tarnish * tarnish_amount / 255.0)
    return m.astype(np.float32)
