"""Lighting of the inspection cell: presets, one sampled state per frame, and the illumination field."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class LightingPreset:
    """A lighting condition as ranges: colour temperature, intensity, elevation, fall-off, shadow."""

    name: str
    kelvin: Range
    intensity: Range
    elevation_deg: Range
    gradient: Range
    vignette: Range
    shadow: Range
    directional: Range
    green_cast: float = 0.0
    white_balance: float = 0.75


@dataclass(frozen=True)
class LightState:
    """The light of one frame: where it comes from, how strong, what colour."""

    name: str
    kelvin: float
    intensity: float
    azimuth: float
    elevation: float
    gradient: float
    vignette: float
    shadow: float
    directional: float
    gains: tuple[float, float, float]

    @property
    def toward(self) -> tuple[float, float]:
        """Unit vector in the image plane (x right, y down) pointing toward the light."""
        return math.cos(self.azimuth), math.sin(self.azimuth)

    @property
    def relief(self) -> float:
        """How strongly surface slopes show as shading: directional share times cot(elevation)."""
        return self.directional / math.tan(max(self.elevation, math.radians(8.0)))


LIGHTINGS: dict[str, LightingPreset] = {
    "diffuse_dome": LightingPreset(
        "diffuse_dome",
        (5200, 6000),
        (0.95, 1.10),
        (70, 88),
        (0.0, 0.06),
        (0.05, 0.15),
        (0.10, 0.25),
        (0.25, 0.4),
    ),
    "ring_cool": LightingPreset(
        "ring_cool",
        (6000, 7200),
        (0.90, 1.15),
        (55, 75),
        (0.02, 0.10),
        (0.20, 0.40),
        (0.25, 0.45),
        (0.4, 0.6),
        white_balance=0.85,
    ),
    "overhead_led": LightingPreset(
        "overhead_led",
        (4600, 5600),
        (0.85, 1.20),
        (40, 65),
        (0.08, 0.22),
        (0.10, 0.30),
        (0.40, 0.65),
        (0.6, 0.85),
    ),
    "fluorescent_dim": LightingPreset(
        "fluorescent_dim",
        (3800, 4400),
        (0.55, 0.75),
        (50, 80),
        (0.04, 0.15),
        (0.15, 0.35),
        (0.25, 0.45),
        (0.35, 0.55),
        green_cast=0.06,
    ),
    # Held out: never rendered for train/val/test, only for the held-out set.
    "low_angle_warm": LightingPreset(
        "low_angle_warm",
        (2700, 3300),
        (0.85, 1.10),
        (14, 26),
        (0.25, 0.45),
        (0.15, 0.35),
        (0.55, 0.80),
        (0.75, 0.95),
        white_balance=0.5,
    ),
}
TRAIN_LIGHTINGS: tuple[str, ...] = ("diffuse_dome", "ring_cool", "overhead_led", "fluorescent_dim")
HELDOUT_LIGHTING = "low_angle_warm"
FIELD_GRID = 17


def preset(name: str) -> LightingPreset:
    """The lighting preset called ``name``."""
    try:
        return LIGHTINGS[name]
    except KeyError:
        raise ValueError(f"unknown lighting {name!r}; known: {', '.join(LIGHTINGS)}") from None


def kelvin_to_bgr(kelvin: float) -> tuple[float, float, float]:
    """Relative BGR of a black body at ``kelvin`` (Tanner Helland's fit), normalized to green = 1."""
    t = kelvin / 100.0
    red = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    green = (
        99.4708025861 * math.log(t) - 161.1195681661
        if t <= 66
        else 288.1221695283 * (t - 60) ** -0.0755148492
    )
    blue = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
    red, green, blue = (min(max(v, 1.0), 255.0) for v in (red, green, blue))
    return blue / green, 1.0, red / green


def sample_light(spec: LightingPreset, rng: np.random.Generator) -> LightState:
    """One frame's light drawn from the preset's ranges."""
    kelvin = float(rng.uniform(*spec.kelvin))
    raw = np.asarray(kelvin_to_bgr(kelvin))
    reference = np.asarray(kelvin_to_bgr(5500.0))
    # The camera's auto white balance removes part of the cast; the rest stays in the image.
    gains = (raw / reference) ** (1.0 - spec.white_balance)
    gains[1] *= 1.0 + spec.green_cast
    gains /= gains.mean()
    return LightState(
        name=spec.name,
        kelvin=kelvin,
        intensity=float(rng.uniform(*spec.intensity)),
        azimuth=float(rng.uniform(-math.pi, math.pi)),
        elevation=math.radians(float(rng.uniform(*spec.elevation_deg))),
        gradient=float(rng.uniform(*spec.gradient)),
        vignette=float(rng.uniform(*spec.vignette)),
        shadow=float(rng.uniform(*spec.shadow)),
        directional=float(rng.uniform(*spec.directional)),
        gains=(float(gains[0]), float(gains[1]), float(gains[2])),
    )


def illumination_field(
    light: LightState, height: int, width: int, dst: np.ndarray | None = None
) -> np.ndarray:
    """HxWx3 float32 irradiance: intensity x colour x linear fall-off across the light x vignetting."""
    grid = np.linspace(-1.0, 1.0, FIELD_GRID, dtype=np.float32)
    gy, gx = np.meshgrid(
        grid * (height / max(height, width)), grid * (width / max(height, width)), indexing="ij"
    )
    ux, uy = light.toward
    falloff = np.clip(1.0 + light.gradient * (gx * ux + gy * uy), 0.2, None)
    vignette = 1.0 - light.vignette * (gx * gx + gy * gy) / 2.0
    field = (light.intensity * falloff * vignette)[..., None] * np.asarray(light.gains, np.float32)
    return cv2.resize(field.astype(np.float32), (width, height), dst=dst, interpolation=cv2.INTER_LINEAR)
