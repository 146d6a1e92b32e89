"""Procedural drawing of the five defect classes on a lit scene, each clipped to the part.

Each drawer takes a defect spec and the canvas and returns the new values of one rectangular patch
(or None when nothing fits). The renderer keeps the difference to the old values, which is how the
label box is found later: only the pixels a defect changed can end up inside its box.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from simulators.camera.lighting import LightState
from simulators.camera.materials import Material
from simulators.camera.parts import SUBPIXEL_BITS, PartGeometry, to_fixed

_ONE = 1 << SUBPIXEL_BITS
SCRATCH_STYLES: tuple[str, ...] = ("line", "cluster", "chatter")
STAIN_STYLES: tuple[str, ...] = ("oil", "residue", "rust")
HOLE_STYLES: tuple[str, ...] = ("blank", "dimple", "ring")


@dataclass(frozen=True)
class DefectSpec:
    """One defect to draw: class, centre and size in pixels, orientation, strength, style and own seed."""

    cls: str
    x: float
    y: float
    size: float
    angle: float
    strength: float
    seed: int
    style: str = ""
    hole: int = -1


class Canvas:
    """The frame being rendered, as the defect drawers see it (mutable working buffers)."""

    def __init__(
        self,
        scene: np.ndarray,
        alpha: np.ndarray,
        field: np.ndarray,
        box: tuple[int, int, int, int],
        outer: np.ndarray,
        lit: np.ndarray,
        solid_factor: np.ndarray,
        light: LightState,
        material: Material,
        geometry: PartGeometry,
        scale: float,
    ) -> None:
        self.scene = scene
        self.alpha = alpha
        self.field = field
        self.box = box
        self.outer = outer
        self.lit = lit
        self.solid_factor = solid_factor
        self.light = light
        self.material = material
        self.geometry = geometry
        self.scale = scale

    def solid_surface(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """The lit part surface in a patch as it would look with no hole there."""
        bx0, by0 = self.box[:2]
        rows, cols = slice(y0 - by0, y1 - by0), slice(x0 - bx0, x1 - bx0)
        return self.lit[rows, cols] * self.solid_factor[rows, cols][..., None]

    def clip(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int] | None:
        """Integer patch x0, y0, x1, y1 (exclusive) clipped to the part box, or None when empty."""
        bx0, by0, bx1, by1 = self.box
        ix0, iy0 = max(math.floor(x0), bx0), max(math.floor(y0), by0)
        ix1, iy1 = min(math.ceil(x1), bx1), min(math.ceil(y1), by1)
        return (ix0, iy0, ix1, iy1) if ix1 - ix0 >= 2 and iy1 - iy0 >= 2 else None


Patch = tuple[int, int, np.ndarray]
Drawer = Callable[[DefectSpec, Canvas], Patch | None]


def _blend(old: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """old + (target - old) * weight, weight HxW broadcast over the colour channels."""
    return old + (target - old) * weight[..., None]


def _polyline(
    mask: np.ndarray, points: np.ndarray, x0: int, y0: int, values: np.ndarray, thickness: int
) -> None:
    """Draw consecutive anti-aliased segments of ``points`` with per-segment 0..1 ``values``."""
    fixed = [to_fixed(float(x), float(y), x0, y0) for x, y in points]
    for a, b, value in zip(fixed[:-1], fixed[1:], values, strict=False):
        cv2.line(mask, a, b, int(255 * value), thickness, cv2.LINE_AA, SUBPIXEL_BITS)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int) -> np.ndarray:
    """n points on the quadratic Bezier curve p0 -> p2 pulled toward p1."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _walk(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    """A smooth random profile of n values between low and high (intensity along a stroke)."""
    steps = np.cumsum(rng.normal(0.0, 0.35, n))
    steps -= steps.min()
    span = steps.max()
    unit = steps / span if span > 0 else np.ones(n)
    return low + (high - low) * unit


def _patch_mask(patch: tuple[int, int, int, int]) -> np.ndarray:
    """A zero uint8 mask the size of ``patch``."""
    x0, y0, x1, y1 = patch
    return np.zeros((y1 - y0, x1 - x0), np.uint8)


def _shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``mask`` moved by whole pixels, zero-filled (no wrap-around)."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    src = mask[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    out[max(dy, 0) : max(dy, 0) + src.shape[0], max(dx, 0) : max(dx, 0) + src.shape[1]] = src
    return out


def _surface_level(old: np.ndarray, field: np.ndarray, clip: np.ndarray) -> float:
    """Mean grey reflectance of the part pixels in a patch (lit value over irradiance)."""
    reflectance = old.mean(axis=2) / np.maximum(field.mean(axis=2), 1e-6)
    on_part = clip > 0.5
    return float(reflectance[on_part].mean()) if on_part.any() else float(reflectance.mean())


def _stroke_colour(
    canvas: Canvas, old: np.ndarray, field: np.ndarray, level: float, roll: float
) -> np.ndarray:
    """What the bottom of a scratch looks like: bare metal under a coating, a glint or a dark groove.

    The choice follows the surface: on light paint the bare steel hardly differs, so the groove's
    shadow shows instead; on bright metal a scratch mostly reads dark, on dark metal mostly bright.
    """
    colour = canvas.material.scratch_color
    if colour is not None:
        if abs(float(np.mean(colour)) - level) < 0.25:
            return field * np.float32(0.2)
        return field * np.asarray(colour, np.float32) * np.float32(1.1)
    bright = roll < (0.75 if level < 0.5 else 0.3)
    if bright:
        return np.minimum(old * np.float32(1.7) + field * np.float32(0.22), field * np.float32(1.05))
    return old * np.float32(0.38)


def draw_scratch(spec: DefectSpec, canvas: Canvas) -> Patch | None:
    """A thin curved groove of varying depth, a cluster of near-parallel ones, or a row of chatter marks."""
    rng = np.random.default_rng(spec.seed)
    s = canvas.scale
    direction = np.array([math.cos(spec.angle), math.sin(spec.angle)])
    normal = np.array([-direction[1], direction[0]])
    centre = np.array([spec.x, spec.y])
    bend = rng.uniform(-0.22, 0.22) * spec.size
    p0, p2 = centre - direction * spec.size / 2, centre + direction * spec.size / 2
    path = _bezier(p0, centre + normal * bend * 2, p2, 24)
    chatter = spec.style == "chatter"
    offsets = [0.0]
    if spec.style == "cluster":  # a handling mark: a few near-parallel scratches of one stroke
        offsets += list(np.cumsum(rng.uniform(2.5, 7.0, int(rng.integers(1, 4))) * max(s, 0.5)))
    reach = (0.12 * spec.size if chatter else 0.0) + offsets[-1] + 4 * s + 3
    patch = canvas.clip(*(path.min(axis=0) - reach), *(path.max(axis=0) + reach))
    if patch is None:
        return None
    x0, y0, x1, y1 = patch
    mask = _patch_mask(patch)
    if chatter:
        marks = int(rng.integers(7, 15))
        half = rng.uniform(0.05, 0.11) * spec.size
        tangent = np.gradient(path, axis=0)
        for k, t in enumerate(np.linspace(0.0, 1.0, marks)):
            i = min(int(t * (len(path) - 1)), len(path) - 1)
            tx, ty = tangent[i] / max(float(np.hypot(*tangent[i])), 1e-6)
            across = np.array([-ty, tx]) * half * (0.7 + 0.3 * math.sin(k * 1.3))
            value = 0.6 + 0.4 * abs(math.sin(k * 0.9 + spec.seed % 7))
            _polyline(
                mask,
                np.stack([path[i] - across, path[i] + across]),
                x0,
                y0,
                np.array([value]),
                max(1, round(1.4 * s)),
            )
    else:
        thickness = max(1, round(float(rng.choice([1.0, 1.0, 1.5, 2.0, 2.5, 3.0])) * s))
        for k, offset in enumerate(offsets):
            # Companions are thinner, shorter and lighter than the first stroke.
            cut = int(rng.integers(0, 6)) if k else 0
            trail = path[cut : len(path) - (int(rng.integers(0, 6)) if k else 0)] + normal * offset
            values = _walk(rng, len(trail) - 1, 0.45, 1.0) * (1.0 if k == 0 else rng.uniform(0.5, 0.85))
            _polyline(mask, trail, x0, y0, values, thickness if k == 0 else max(1, thickness - 1))
    groove = mask.astype(np.float32) / 255.0
    old = canvas.scene[y0:y1, x0:x1]
    field = canvas.field[y0:y1, x0:x1]
    clip = canvas.alpha[y0:y1, x0:x1]
    target = _stroke_colour(canvas, old, field, _surface_level(old, field, clip), float(rng.random()))
    new = _blend(old, target, groove * spec.strength * clip)
    # The groove wall away from the light sits in shadow: a faint dark companion line.
    ux, uy = canvas.light.toward
    wall = (
        _shifted(mask, -round(ux * 1.5 * max(s, 0.7)), -round(uy * 1.5 * max(s, 0.7))).astype(np.float32)
        / 255.0
    )
    wall = np.clip(wall - groove, 0.0, 1.0) * (0.25 + 0.35 * min(canvas.light.relief, 1.5))
    return x0, y0, _blend(new, new * np.float32(0.55), wall * spec.strength * clip)


def draw_dent(spec: DefectSpec, canvas: Canvas) -> Patch | None:
    """A smooth elliptical depression with a raised lip, shaded by the frame's light direction."""
    rng = np.random.default_rng(spec.seed)
    a = spec.size / 2
    b = a * rng.uniform(0.55, 1.0)
    reach = 1.35 * a + 2
    patch = canvas.clip(spec.x - reach, spec.y - reach, spec.x + reach, spec.y + reach)
    if patch is None:
        return None
    x0, y0, x1, y1 = patch
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + np.float32(0.5)
    dx, dy = xx - spec.x, yy - spec.y
    c, s = math.cos(spec.angle), math.sin(spec.angle)
    u, v = (dx * c + dy * s) / a, (-dx * s + dy * c) / b
    rho = np.sqrt(u * u + v * v)
    bowl = np.where(rho < 1.0, -((1.0 - rho * rho) ** 2), 0.0)
    lip = np.where(rho < 1.35, 0.22 * np.exp(-(((rho - 1.02) / 0.13) ** 2)), 0.0)
    height = (bowl + lip).astype(np.float32)
    gy, gx = (np.asarray(g, np.float32) for g in np.gradient(height))
    ux, uy = canvas.light.toward
    slope = -(gx * ux + gy * uy)
    peak = float(np.abs(slope).max())
    if peak <= 0:
        return None
    amplitude = spec.strength * (0.22 + 0.2 * min(canvas.light.relief, 2.0))
    shade = amplitude * slope / peak
    shade -= 0.08 * spec.strength * np.clip(-bowl, 0.0, 1.0)  # the struck face loses its sheen
    shade = np.clip(shade, -0.75, 1.2).astype(np.float32)
    # The slope that faces the light throws a specular glint, which shows even on dark metal.
    glint = (np.clip(slope / peak, 0.0, 1.0) ** 2 * (0.12 + 0.1 * spec.strength)).astype(np.float32)
    old = canvas.scene[y0:y1, x0:x1]
    clip = canvas.alpha[y0:y1, x0:x1][..., None]
    field = canvas.field[y0:y1, x0:x1]
    change = old * shade[:, :, None] + field * glint[:, :, None]
    return x0, y0, old + change * clip


def _crack_path(
    rng: np.random.Generator, start: np.ndarray, heading: float, length: float, step: float
) -> np.ndarray:
    """A jagged random walk with persistent heading: the path of a fatigue crack."""
    n = max(3, int(length / step))
    turns = np.cumsum(rng.normal(0.0, 0.28, n)) * 0.6 + rng.normal(0.0, 0.45, n) * 0.5
    angles = heading + turns
    steps = np.stack([np.cos(angles), np.sin(angles)], axis=1) * step * rng.uniform(0.6, 1.4, (n, 1))
    return np.vstack([start, start + np.cumsum(steps, axis=0)])


def draw_crack(spec: DefectSpec, canvas: Canvas) -> Patch | None:
    """A dark, jagged, tapering fissure with side branches and a thin lit lip."""
    rng = np.random.default_rng(spec.seed)
    s = canvas.scale
    step = max(2.0, 4.0 * s)
    centre = np.array([spec.x, spec.y])
    half = _crack_path(rng, centre, spec.angle, spec.size / 2, step)
    other = _crack_path(rng, centre, spec.angle + math.pi, spec.size / 2, step)
    main = np.vstack([other[::-1], half[1:]])
    branches = []
    for _ in range(int(rng.integers(0, 3))):
        root = main[int(rng.integers(len(main) // 4, max(len(main) * 3 // 4, len(main) // 4 + 1)))]
        heading = spec.angle + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.1)
        branches.append(_crack_path(rng, root, heading, spec.size * rng.uniform(0.15, 0.35), step))
    points = np.vstack([main, *branches])
    patch = canvas.clip(*(points.min(axis=0) - 3 * s - 3), *(points.max(axis=0) + 3 * s + 3))
    if patch is None:
        return None
    x0, y0, x1, y1 = patch
    mask = _patch_mask(patch)
    wide = max(1, round(rng.uniform(1.2, 2.4) * s))
    middle = len(main) // 2
    taper = np.clip(1.0 - np.abs(np.arange(len(main) - 1) - middle) / max(middle, 1), 0.35, 1.0)
    _polyline(mask, main[: middle + 1], x0, y0, np.sqrt(taper[:middle]), wide)
    _polyline(mask, main[middle:], x0, y0, np.sqrt(taper[middle:]), max(1, wide - 1))
    for branch in branches:
        _polyline(mask, branch, x0, y0, np.linspace(0.9, 0.4, len(branch) - 1), 1)
    fissure = mask.astype(np.float32) / 255.0
    old = canvas.scene[y0:y1, x0:x1]
    clip = canvas.alpha[y0:y1, x0:x1]
    new = _blend(old, old * np.float32(0.12), fissure * spec.strength * clip)
    ux, uy = canvas.light.toward
    lip = _shifted(mask, round(ux * max(s, 0.7)), round(uy * max(s, 0.7))).astype(np.float32) / 255.0
    lip = np.clip(lip - fissure, 0.0, 1.0) * 0.35 * spec.strength * clip
    return x0, y0, _blend(new, np.minimum(new * np.float32(1.5), canvas.field[y0:y1, x0:x1]), lip)


def draw_stain(spec: DefectSpec, canvas: Canvas) -> Patch | None:
    """An irregular blot of oil, dried coolant residue or rust, darker or lighter at its rim."""
    rng = np.random.default_rng(spec.seed)
    s = canvas.scale
    n = 32
    smooth: np.ndarray = cv2.GaussianBlur(rng.normal(0.0, 1.0, (1, n * 3)).astype(np.float32), (0, 0), 2.0)
    wobble = smooth[0, n : 2 * n] / max(float(np.abs(smooth[0, n : 2 * n]).max()), 1e-6)
    theta = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    aspect = rng.uniform(0.55, 1.0)
    radius = spec.size / 2 * (1.0 + 0.28 * wobble)
    local = np.stack([radius * np.cos(theta), radius * aspect * np.sin(theta)], axis=1)
    c, sn = math.cos(spec.angle), math.sin(spec.angle)
    points = local @ np.array([[c, sn], [-sn, c]]) + np.array([spec.x, spec.y])
    sigma = rng.uniform(0.8, 2.2) * max(s, 0.5)
    reach = 3 * sigma + 2
    patch = canvas.clip(*(points.min(axis=0) - reach), *(points.max(axis=0) + reach))
    if patch is None:
        return None
    x0, y0, x1, y1 = patch
    mask = _patch_mask(patch)
    polygon = np.array([to_fixed(float(x), float(y), x0, y0) for x, y in points], np.int32)
    cv2.fillPoly(mask, [polygon], 255, cv2.LINE_AA, SUBPIXEL_BITS)
    blot = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)
    core = cv2.GaussianBlur(blot, (0, 0), 3.0 * sigma + 2.0 * s)
    rim = np.clip(blot - core, 0.0, 1.0) * 2.5
    opacity = spec.strength * rng.uniform(0.45, 0.75)
    weight = np.clip(blot * opacity + rim * 0.5 * spec.strength, 0.0, 1.0)
    weight = np.where(weight < 0.03, 0.0, weight).astype(np.float32) * canvas.alpha[y0:y1, x0:x1]
    old = canvas.scene[y0:y1, x0:x1]
    field = canvas.field[y0:y1, x0:x1]
    if spec.style == "residue":
        # Dried coolant: a chalky film that lifts dark surfaces and dulls bright ones, densest at the rim.
        level = _surface_level(old, field, canvas.alpha[y0:y1, x0:x1])
        grey = 0.85 if level < 0.45 else 0.3
        target = field * np.asarray((grey * 0.97, grey, grey), np.float32)
        weight *= np.float32(0.75)
    elif spec.style == "rust":
        target = old * np.asarray((0.25, 0.42, 0.75), np.float32) + field * np.asarray(
            (0.02, 0.06, 0.12), np.float32
        )
    else:
        target = old * np.asarray((0.42, 0.5, 0.58), np.float32)
    return x0, y0, _blend(old, target, weight)


def draw_missing_hole(spec: DefectSpec, canvas: Canvas) -> Patch | None:
    """Fill one bolt hole with solid surface: blank, with a pilot-drill dimple, or a faint spot-face ring."""
    if not 0 <= spec.hole < len(canvas.geometry.holes):
        return None
    rng = np.random.default_rng(spec.seed)
    hole = canvas.geometry.holes[spec.hole]
    reach = hole.r + 4 * max(canvas.scale, 0.5) + 3
    patch = canvas.clip(hole.cx - reach, hole.cy - reach, hole.cx + reach, hole.cy + reach)
    if patch is None:
        return None
    x0, y0, x1, y1 = patch
    bx0, by0 = canvas.box[:2]
    outer = canvas.outer[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0]
    old = canvas.scene[y0:y1, x0:x1]
    solid = canvas.solid_surface(x0, y0, x1, y1)
    new = _blend(old, solid, outer)
    mark = _patch_mask(patch)
    if spec.style == "dimple":
        r = hole.r * rng.uniform(0.18, 0.35)
        cv2.circle(
            mark, to_fixed(hole.cx, hole.cy, x0, y0), round(r * _ONE), 255, -1, cv2.LINE_AA, SUBPIXEL_BITS
        )
        new = _blend(new, new * np.float32(0.45), mark.astype(np.float32) / 255.0 * spec.strength)
    elif spec.style == "ring":
        cv2.circle(
            mark,
            to_fixed(hole.cx, hole.cy, x0, y0),
            round(hole.r * 0.95 * _ONE),
            255,
            1,
            cv2.LINE_AA,
            SUBPIXEL_BITS,
        )
        new = _blend(new, new * np.float32(0.7), mark.astype(np.float32) / 255.0 * spec.strength)
    canvas.alpha[y0:y1, x0:x1] = outer
    return x0, y0, new.astype(np.float32)


DRAWERS: dict[str, Drawer] = {
    "scratch": draw_scratch,
    "dent": draw_dent,
    "crack": draw_crack,
    "stain": draw_stain,
    "missing_hole": draw_missing_hole,
}
