"""Part shapes on the belt: rectangular plates and round flanges with bolt holes, and their masks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SHAPES: tuple[str, ...] = ("plate", "flange")
SUBPIXEL_BITS = 4
_ONE = 1 << SUBPIXEL_BITS


@dataclass(frozen=True)
class Hole:
    """A through hole: centre and radius in image pixels."""

    cx: float
    cy: float
    r: float


@dataclass(frozen=True)
class PartGeometry:
    """Where the part lies and what it looks like from above, in image pixels."""

    shape: str
    cx: float
    cy: float
    half_w: float
    half_h: float
    angle: float
    corner: float
    hub: float
    holes: tuple[Hole, ...]
    bore: Hole | None
    thickness: float

    @property
    def extent(self) -> float:
        """Half the longest dimension: the radius of a circle around the part."""
        return math.hypot(self.half_w, self.half_h) if self.shape == "plate" else self.half_w

    def bbox(self, margin: int) -> tuple[int, int, int, int]:
        """Integer box x0, y0, x1, y1 (exclusive) around the part, grown by ``margin`` pixels."""
        if self.shape == "flange":
            ex = ey = self.half_w
        else:
            c, s = abs(math.cos(self.angle)), abs(math.sin(self.angle))
            ex = self.half_w * c + self.half_h * s
            ey = self.half_w * s + self.half_h * c
        return (
            math.floor(self.cx - ex) - margin,
            math.floor(self.cy - ey) - margin,
            math.ceil(self.cx + ex) + margin + 1,
            math.ceil(self.cy + ey) + margin + 1,
        )


def sample_part(
    rng: np.random.Generator,
    width: int,
    height: int,
    belt_top: int,
    belt_bottom: int,
    *,
    need_holes: bool,
    margin: int,
) -> PartGeometry:
    """A random plate or flange that lies wholly on the visible belt, ``margin`` pixels clear of its edges."""
    scale = min(width, belt_bottom - belt_top)
    shape = "flange" if rng.random() < 0.5 else "plate"
    for _ in range(50):
        geometry = _flange(rng, scale, need_holes) if shape == "flange" else _plate(rng, scale, need_holes)
        x0, y0, x1, y1 = geometry.bbox(0)
        span_x = width - 2 * margin - (x1 - x0)
        span_y = belt_bottom - belt_top - 2 * margin - (y1 - y0)
        if span_x <= 0 or span_y <= 0:
            continue
        # The camera fires on a light barrier, so parts arrive near the centre of the frame.
        cx = width / 2 + rng.uniform(-0.5, 0.5) * min(span_x, 0.35 * width)
        cy = (belt_top + belt_bottom) / 2 + rng.uniform(-0.5, 0.5) * min(span_y, 0.35 * height)
        return _moved(geometry, cx, cy)
    raise ValueError(f"no part fits an image of {width}x{height} with a margin of {margin} px")


def _plate(rng: np.random.Generator, scale: float, need_holes: bool) -> PartGeometry:
    """A rectangular plate with rounded corners and 0, 2, 4 or 6 holes, at any rotation."""
    half_w = rng.uniform(0.24, 0.36) * scale
    half_h = half_w / rng.uniform(1.0, 2.0)
    angle = rng.uniform(-math.pi, math.pi) if rng.random() < 0.35 else rng.normal(0.0, 0.12)
    corner = rng.uniform(0.03, 0.35) * half_h
    layout = int(rng.choice([2, 4, 6])) if need_holes or rng.random() < 0.65 else 0
    r = rng.uniform(0.10, 0.17) * half_h
    inset_x = half_w - max(corner, 2.4 * r) - rng.uniform(0.0, 0.15) * half_w
    inset_y = half_h - max(corner, 2.4 * r) - rng.uniform(0.0, 0.1) * half_h
    local: list[tuple[float, float]] = []
    if layout == 2:
        local = (
            [(-inset_x, -inset_y), (inset_x, inset_y)]
            if rng.random() < 0.5
            else [(-inset_x, 0), (inset_x, 0)]
        )
    elif layout == 4:
        local = [(sx * inset_x, sy * inset_y) for sx in (-1, 1) for sy in (-1, 1)]
    elif layout == 6:
        local = [(sx * inset_x, sy * inset_y) for sx in (-1, 0, 1) for sy in (-1, 1)]
    c, s = math.cos(angle), math.sin(angle)
    holes = tuple(Hole(x * c - y * s, x * s + y * c, r) for x, y in local)
    bore = (
        Hole(0.0, 0.0, rng.uniform(0.2, 0.34) * half_h) if layout in (0, 4) and rng.random() < 0.3 else None
    )
    return PartGeometry(
        "plate", 0.0, 0.0, half_w, half_h, angle, corner, 0.0, holes, bore, rng.uniform(4, 10)
    )


def _flange(rng: np.random.Generator, scale: float, need_holes: bool) -> PartGeometry:
    """A round flange: centre bore, optional raised hub, 3 to 8 bolt holes on a pitch circle."""
    radius = rng.uniform(0.25, 0.38) * scale
    bore_r = rng.uniform(0.18, 0.36) * radius
    n = int(rng.choice([3, 4, 5, 6, 8]))
    hole_r = rng.uniform(0.055, 0.09) * radius * (1.0 if n < 8 else 0.85)
    pitch = rng.uniform(bore_r + 2.6 * hole_r + 0.08 * radius, radius - 2.4 * hole_r)
    hub = rng.uniform(bore_r + 0.1 * radius, pitch - 2.0 * hole_r) if rng.random() < 0.6 else 0.0
    phase = rng.uniform(0, 2 * math.pi)
    holes = tuple(
        Hole(
            pitch * math.cos(phase + 2 * math.pi * k / n),
            pitch * math.sin(phase + 2 * math.pi * k / n),
            hole_r,
        )
        for k in range(n)
    )
    del need_holes  # every flange has bolt holes
    return PartGeometry(
        "flange", 0.0, 0.0, radius, radius, phase, 0.0, hub, holes, Hole(0.0, 0.0, bore_r), 8.0
    )


def _moved(geometry: PartGeometry, cx: float, cy: float) -> PartGeometry:
    """The geometry with its centre (and holes) placed at cx, cy."""
    holes = tuple(Hole(h.cx + cx, h.cy + cy, h.r) for h in geometry.holes)
    bore = (
        None if geometry.bore is None else Hole(geometry.bore.cx + cx, geometry.bore.cy + cy, geometry.bore.r)
    )
    return PartGeometry(
        geometry.shape,
        cx,
        cy,
        geometry.half_w,
        geometry.half_h,
        geometry.angle,
        geometry.corner,
        geometry.hub,
        holes,
        bore,
        geometry.thickness,
    )


def to_fixed(x: float, y: float, x0: int, y0: int) -> tuple[int, int]:
    """Sub-pixel fixed-point coordinates relative to the box origin, for OpenCV's ``shift`` drawing."""
    return round((x - x0 - 0.5) * _ONE), round((y - y0 - 0.5) * _ONE)


def _disc(mask: np.ndarray, hole: Hole, x0: int, y0: int, value: int = 255) -> None:
    """Draw a filled anti-aliased disc into ``mask``."""
    cv2.circle(
        mask, to_fixed(hole.cx, hole.cy, x0, y0), round(hole.r * _ONE), value, -1, cv2.LINE_AA, SUBPIXEL_BITS
    )


def outline_polygon(geometry: PartGeometry) -> np.ndarray:
    """The outline of a plate as an Nx2 float array of image points (rounded rectangle)."""
    hw, hh, rc = geometry.half_w, geometry.half_h, min(geometry.corner, geometry.half_h * 0.95)
    points: list[tuple[float, float]] = []
    for cx, cy, start in (
        (hw - rc, hh - rc, 0),
        (-hw + rc, hh - rc, 90),
        (-hw + rc, -hh + rc, 180),
        (hw - rc, -hh + rc, 270),
    ):
        for a in np.radians(np.linspace(start, start + 90, 7)):
            points.append((cx + rc * math.cos(a), cy + rc * math.sin(a)))
    local = np.asarray(points)
    c, s = math.cos(geometry.angle), math.sin(geometry.angle)
    rotation = np.array([[c, -s], [s, c]])
    return local @ rotation.T + np.array([geometry.cx, geometry.cy])


def draw_masks(
    geometry: PartGeometry, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anti-aliased uint8 masks in ``box``: outer silhouette, raised hub, through holes (bore included)."""
    x0, y0, x1, y1 = box
    outer = np.zeros((y1 - y0, x1 - x0), np.uint8)
    hub = np.zeros_like(outer)
    holes = np.zeros_like(outer)
    if geometry.shape == "flange":
        _disc(outer, Hole(geometry.cx, geometry.cy, geometry.half_w), x0, y0)
        if geometry.hub > 0:
            _disc(hub, Hole(geometry.cx, geometry.cy, geometry.hub), x0, y0)
    else:
        polygon = np.array([to_fixed(x, y, x0, y0) for x, y in outline_polygon(geometry)], np.int32)
        cv2.fillPoly(outer, [polygon], 255, cv2.LINE_AA, SUBPIXEL_BITS)
    for hole in (*geometry.holes, *(() if geometry.bore is None else (geometry.bore,))):
        _disc(holes, hole, x0, y0)
    return outer, hub, holes


def inside(geometry: PartGeometry, x: float, y: float, clearance: float) -> bool:
    """Whether the point lies on solid material, ``clearance`` pixels from every edge and hole."""
    for hole in (*geometry.holes, *(() if geometry.bore is None else (geometry.bore,))):
        if math.hypot(x - hole.cx, y - hole.cy) < hole.r + clearance:
            return False
    dx, dy = x - geometry.cx, y - geometry.cy
    if geometry.shape == "flange":
        return math.hypot(dx, dy) < geometry.half_w - clearance
    c, s = math.cos(geometry.angle), math.sin(geometry.angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    return abs(u) < geometry.half_w - clearance and abs(v) < geometry.half_h - clearance
