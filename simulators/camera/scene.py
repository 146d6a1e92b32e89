"""One inspection frame: sample a fully determined frame spec, then render it with exact defect boxes.

Sampling and rendering are separate so that a test can render the same spec with and without its
defects and compare. The renderer works in lit scene radiance (float32), composites belt, shadow and
part, lets the defect drawers change patches, and hands the result to the optics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from simulators.camera.belt import BELTS, belt_tile, rail_height, rail_strip
from simulators.camera.defect_drawing import DRAWERS, HOLE_STYLES, Canvas, DefectSpec
from simulators.camera.defects import CLASS_INDEX, DEFECT_CLASSES
from simulators.camera.frames import BoxLabel
from simulators.camera.lighting import LightState, illumination_field, preset, sample_light
from simulators.camera.materials import Bgr, albedo_matrix, material, ring_tile, texture_tile
from simulators.camera.optics import (
    OpticsState,
    changed_box,
    expose,
    noise_bank,
    sample_optics,
    visible_pixels,
)
from simulators.camera.parts import PartGeometry, draw_masks, inside, sample_part
from simulators.camera.seeding import generator

PART_MARGIN = 6
HOLE_OCCLUSION = 0.45
# Defect size (length, or diameter) as a fraction of the part's minor half-size.
SIZE_RANGES: dict[str, tuple[float, float]] = {
    "scratch": (0.35, 1.0),
    "dent": (0.13, 0.3),
    "crack": (0.3, 0.8),
    "stain": (0.2, 0.5),
}
RIM_SIGMA = 1.1
DEADBAND_DN = 2.5
VISIBLE_DN = 16.0
VISIBLE_PIXELS = 12
VISIBLE_PER_SIZE = 0.4


@dataclass(frozen=True)
class FrameSpec:
    """Everything that decides one frame's pixels, sampled up front."""

    width: int
    height: int
    material: str
    color: Bgr
    tarnish: float
    belt: str
    belt_offset: int
    geometry: PartGeometry
    texture_angle: float
    texture_x: float
    texture_y: float
    sheen_offset: float
    light: LightState
    optics: OpticsState
    defects: tuple[DefectSpec, ...]


@dataclass(frozen=True)
class Rendered:
    """A rendered frame and the boxes of the defects that changed it."""

    image: np.ndarray
    labels: tuple[BoxLabel, ...]


def image_scale(width: int, height: int) -> float:
    """Pixel scale relative to the 640 x 640 reference frame."""
    return min(width, height) / 640.0


def sample_frame_spec(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    material_name: str,
    lighting: str,
    belt: str,
    classes: tuple[str, ...],
    chatter_share: float = 0.25,
    t_ms: int = 0,
) -> FrameSpec:
    """Sample part, surface, light, optics and the placement of ``classes`` defects for one frame."""
    unknown = sorted(set(classes) - set(DEFECT_CLASSES))
    if unknown:
        raise ValueError(f"unknown defect classes {unknown}; known: {DEFECT_CLASSES}")
    mat = material(material_name)
    scale = image_scale(width, height)
    rail = rail_height(height)
    geometry = sample_part(
        rng, width, height, rail, height - rail, need_holes="missing_hole" in classes, margin=PART_MARGIN
    )
    base = np.asarray(mat.colors[int(rng.integers(len(mat.colors)))])
    # Mostly brightness variation between batches, a little hue.
    tint = (1.0 + rng.normal(0.0, mat.color_jitter)) * (1.0 + rng.normal(0.0, mat.color_jitter / 3.0, 3))
    color = np.clip(base * tint, 0.02, 0.95)
    light = sample_light(preset(lighting), rng)
    optics = sample_optics(rng, light.intensity, scale)
    belt_speed = 0.25 * width  # pixels per second of belt travel
    return FrameSpec(
        width=width,
        height=height,
        material=mat.name,
        color=(float(color[0]), float(color[1]), float(color[2])),
        tarnish=float(rng.uniform(0.3, 1.0)),
        belt=belt,
        belt_offset=int((t_ms * belt_speed / 1000.0 + rng.uniform(0, width)) % width),
        geometry=geometry,
        texture_angle=geometry.angle + float(rng.normal(0.0, 0.03)),
        texture_x=float(rng.uniform(-0.2, 0.2)),
        texture_y=float(rng.uniform(-0.2, 0.2)),
        sheen_offset=float(rng.uniform(-0.6, 0.6)),
        light=light,
        optics=optics,
        defects=place_defects(rng, classes, geometry, mat.name, scale, chatter_share),
    )


def place_defects(
    rng: np.random.Generator,
    classes: tuple[str, ...],
    geometry: PartGeometry,
    material_name: str,
    scale: float,
    chatter_share: float,
) -> tuple[DefectSpec, ...]:
    """Positions, sizes and styles of the defects, on solid material and not piled on one another."""
    minor = geometry.half_h if geometry.shape == "plate" else geometry.half_w
    taken: list[tuple[float, float, float]] = []
    specs: list[DefectSpec] = []
    free_holes = list(range(len(geometry.holes)))
    for cls in sorted(classes, key=lambda c: c != "missing_hole"):
        for _ in range(40):
            spec = _one_defect(rng, cls, geometry, minor, material_name, scale, chatter_share, free_holes)
            if spec is None:
                break
            radius = spec.size / 2
            if all(math.hypot(spec.x - x, spec.y - y) > radius + r + 4 * scale for x, y, r in taken):
                taken.append((spec.x, spec.y, radius))
                specs.append(spec)
                if spec.hole >= 0:
                    free_holes.remove(spec.hole)
                break
    return tuple(specs)


def _one_defect(
    rng: np.random.Generator,
    cls: str,
    geometry: PartGeometry,
    minor: float,
    material_name: str,
    scale: float,
    chatter_share: float,
    free_holes: list[int],
) -> DefectSpec | None:
    """One candidate defect of class ``cls`` (None when the part cannot carry it)."""
    seed = int(rng.integers(0, 2**31))
    strength = float(rng.uniform(0.65, 1.0))
    angle = float(rng.uniform(-math.pi, math.pi))
    if cls == "missing_hole":
        if not free_holes:
            return None
        index = free_holes[int(rng.integers(len(free_holes)))]
        hole = geometry.holes[index]
        style = str(rng.choice(HOLE_STYLES, p=[0.4, 0.35, 0.25]))
        return DefectSpec(cls, hole.cx, hole.cy, 2 * hole.r, angle, strength, seed, style, index)
    low, high = SIZE_RANGES[cls]
    size = max(float(rng.uniform(low, high)) * minor, 10.0 * scale)
    style = ""
    if cls == "scratch":
        style = _scratch_style(rng, chatter_share)
    elif cls == "stain":
        style = _stain_style(rng, material_name)
    # Dents keep off edges and holes; lines may run off the part (they are clipped to it).
    clearance = 0.6 * size if cls == "dent" else (3 * scale if cls in ("scratch", "crack") else 0.0)
    span = geometry.extent
    for _ in range(60):
        x = geometry.cx + rng.uniform(-span, span)
        y = geometry.cy + rng.uniform(-span, span)
        if inside(geometry, x, y, clearance):
            return DefectSpec(cls, float(x), float(y), size, angle, strength, seed, style)
    return None


def _scratch_style(rng: np.random.Generator, chatter_share: float) -> str:
    """Chatter marks at ``chatter_share``; otherwise one groove, or a cluster of them one time in four."""
    if rng.random() < chatter_share:
        return "chatter"
    return "cluster" if rng.random() < 0.25 else "line"


def _stain_style(rng: np.random.Generator, material_name: str) -> str:
    """Oil and dried coolant everywhere; rust only on iron and steel."""
    if material_name in ("cast_iron", "painted_steel") and rng.random() < 0.3:
        return "rust"
    return "oil" if rng.random() < 0.6 else "residue"


class Renderer:
    """Renders frame specs of one size; holds the texture tiles (made once from the seed) and buffers."""

    def __init__(self, width: int, height: int, seed: int) -> None:
        if width < 64 or height < 64:
            raise ValueError(f"frames must be at least 64 x 64, got {width} x {height}")
        self.width, self.height, self.seed = width, height, seed
        self.scale = image_scale(width, height)
        self.tile_size = math.ceil(1.5 * max(width, height))
        self._tiles: dict[str, np.ndarray] = {}
        self._belts: dict[str, np.ndarray] = {}
        rng = generator(seed, "renderer")
        rail = rail_height(height)
        self._rail_top = rail_strip(rail, width, self.scale, rng)
        self._rail_bottom = np.ascontiguousarray(rail_strip(rail, width, self.scale, rng)[::-1])
        self._rings = ring_tile(self.tile_size, self.scale, rng)
        self._noise = noise_bank(height, width, rng)
        shape = (height, width, 3)
        self._field = np.empty(shape, np.float32)
        self._scene = np.empty(shape, np.float32)
        self._blurred = np.empty(shape, np.float32)
        self._noisy = np.empty(shape, np.float32)
        self._alpha = np.zeros((height, width), np.float32)

    def tile(self, name: str) -> np.ndarray:
        """The texture tile of material ``name``, generated on first use from the renderer's seed."""
        if name not in self._tiles:
            rng = generator(self.seed, "texture", name)
            self._tiles[name] = texture_tile(material(name), self.tile_size, self.scale, rng)
        return self._tiles[name]

    def belt(self, name: str) -> np.ndarray:
        """The belt surface ``name`` (twice the frame width long), generated on first use."""
        if name not in self._belts:
            if name not in BELTS:
                raise ValueError(f"unknown belt {name!r}; known: {', '.join(BELTS)}")
            rng = generator(self.seed, "belt", name)
            self._belts[name] = belt_tile(BELTS[name], self.height, 2 * self.width, self.scale, rng)
        return self._belts[name]

    def render(self, spec: FrameSpec) -> Rendered:
        """Render ``spec`` into a uint8 BGR image and the exact boxes of its defects."""
        if (spec.width, spec.height) != (self.width, self.height):
            raise ValueError(f"spec is {spec.width}x{spec.height}, renderer is {self.width}x{self.height}")
        field = illumination_field(spec.light, self.height, self.width, dst=self._field)
        scene = self._scene
        belt = self.belt(spec.belt)
        np.multiply(belt[:, spec.belt_offset : spec.belt_offset + self.width], field, out=scene)
        rail = self._rail_top.shape[0]
        np.multiply(self._rail_top, field[:rail], out=scene[:rail])
        np.multiply(self._rail_bottom, field[-rail:], out=scene[-rail:])
        canvas = self._part(spec, scene, field)
        traces: list[tuple[DefectSpec, int, int, np.ndarray]] = []
        for defect in spec.defects:
            trace = self._draw(defect, canvas, spec.optics)
            if trace is not None:
                traces.append(trace)
        image = expose(scene, spec.optics, self._noise, self._blurred, self._noisy)
        labels = []
        for defect, x0, y0, delta in traces:
            box = changed_box(delta, x0, y0, spec.optics, self._noisy)
            if box is not None:
                labels.append(BoxLabel(CLASS_INDEX[defect.cls], defect.cls, *map(float, box)))
        return Rendered(image, tuple(labels))

    def _draw(
        self, defect: DefectSpec, canvas: Canvas, optics: OpticsState
    ) -> tuple[DefectSpec, int, int, np.ndarray] | None:
        """Draw one defect; keep it only if it changes enough pixels by a visible amount."""
        saved_alpha = canvas.alpha.copy() if defect.cls == "missing_hole" else None
        result = DRAWERS[defect.cls](defect, canvas)
        if result is None:
            return None
        x0, y0, new = result
        y1, x1 = y0 + new.shape[0], x0 + new.shape[1]
        old = canvas.scene[y0:y1, x0:x1].copy()
        delta = new - old
        change = np.abs(delta).max(axis=2) * optics.scale
        delta[change < DEADBAND_DN] = 0.0  # faint tails would widen the box without being seen
        new = old + delta
        needed = max(VISIBLE_PIXELS * max(self.scale, 0.25) ** 2, VISIBLE_PER_SIZE * defect.size)
        if visible_pixels(delta, optics, VISIBLE_DN) < needed:
            if saved_alpha is not None:
                canvas.alpha[...] = saved_alpha
            return None
        canvas.scene[y0:y1, x0:x1] = new
        return defect, x0, y0, delta

    def _part(self, spec: FrameSpec, scene: np.ndarray, field: np.ndarray) -> Canvas:
        """Composite the part's shadow and lit, textured surface over the belt; return the canvas."""
        geometry, light = spec.geometry, spec.light
        box = geometry.bbox(3)
        x0, y0, x1, y1 = box
        outer_u8, hub_u8, holes_u8 = draw_masks(geometry, box)
        outer = outer_u8.astype(np.float32) * np.float32(1 / 255)
        holes = holes_u8.astype(np.float32) * np.float32(1 / 255)
        self._shadow(spec, scene, outer_u8, box)
        lit, factor = self._albedo(spec, box)
        np.multiply(lit, field[y0:y1, x0:x1], out=lit)
        relief = outer + hub_u8.astype(np.float32) * np.float32(0.5 / 255)
        factor *= 1.0 + _rim_shading(relief, light, self.scale)
        solid_factor = factor.copy()  # the surface as it would be without its holes
        solid = 1.0 - holes
        coverage = outer * solid
        factor *= 1.0 + _rim_shading(solid, light, self.scale) * solid
        factor *= coverage
        region = scene[y0:y1, x0:x1]
        # Through a hole the belt is seen past the bore wall, which hides much of the light.
        cv2.multiply(region, _gray3((1.0 - coverage) * (1.0 - HOLE_OCCLUSION * holes)), dst=region)
        cv2.add(region, cv2.multiply(lit, _gray3(factor)), dst=region)
        self._alpha.fill(0.0)
        self._alpha[y0:y1, x0:x1] = coverage
        return Canvas(
            scene,
            self._alpha,
            field,
            box,
            outer,
            lit,
            solid_factor,
            light,
            material(spec.material),
            geometry,
            self.scale,
        )

    def _albedo(self, spec: FrameSpec, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The part's reflectance in ``box`` (material tile rotated with the part, tinted) and a grey factor.

        The factor (sheen band, tool marks of turned faces) multiplies all channels alike, so it is
        kept single-channel and folded with the edge shading before the one colour multiply.
        """
        mat = material(spec.material)
        geometry = spec.geometry
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        tile = self.tile(spec.material)
        half = self.tile_size / 2.0
        c, s = math.cos(spec.texture_angle), math.sin(spec.texture_angle)
        tx = half + spec.texture_x * half * 0.2
        ty = half + spec.texture_y * half * 0.2
        bx, by = geometry.cx - x0, geometry.cy - y0
        # dst (u, v) -> src: rotate about the part centre into the tile centre.
        warp = np.array([[c, s, tx - c * bx - s * by], [-s, c, ty + s * bx - c * by]], np.float32)
        texture = cv2.warpAffine(tile, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        turned = geometry.shape == "flange" and mat.turning > 0
        matrix = albedo_matrix(mat, spec.color, spec.tarnish, brushed=not turned)
        albedo = cv2.transform(texture.astype(np.float32), matrix)
        factor = _sheen(spec, w, h, mat.sheen) if mat.sheen > 0 else np.ones((h, w), np.float32)
        if turned:
            r0 = round(self.tile_size / 2 - by)
            c0 = round(self.tile_size / 2 - bx)
            factor *= 1.0 + mat.turning * self._rings[r0 : r0 + h, c0 : c0 + w]
        return albedo, factor

    def _shadow(
        self, spec: FrameSpec, scene: np.ndarray, outer: np.ndarray, box: tuple[int, int, int, int]
    ) -> None:
        """Darken the belt under the part's cast shadow, offset away from the light and softened."""
        light = spec.light
        reach = spec.geometry.thickness * self.scale / math.tan(max(light.elevation, math.radians(10)))
        reach = min(reach, 30 * self.scale)
        ux, uy = light.toward
        dx, dy = -round(ux * reach), -round(uy * reach)
        sigma = max(0.8, (1.5 + 6.0 * (1.0 - light.directional)) * self.scale)
        pad = int(3 * sigma) + 1 + max(abs(dx), abs(dy))
        x0, y0, x1, y1 = box
        canvas = np.zeros((y1 - y0 + 2 * pad, x1 - x0 + 2 * pad), np.float32)
        canvas[pad + dy : pad + dy + (y1 - y0), pad + dx : pad + dx + (x1 - x0)] = outer * np.float32(1 / 255)
        shade = cv2.GaussianBlur(canvas, (0, 0), sigma)
        gx0, gy0 = max(x0 - pad, 0), max(y0 - pad, 0)
        gx1, gy1 = min(x1 + pad, self.width), min(y1 + pad, self.height)
        shade = shade[gy0 - (y0 - pad) : gy1 - (y0 - pad), gx0 - (x0 - pad) : gx1 - (x0 - pad)]
        region = scene[gy0:gy1, gx0:gx1]
        cv2.multiply(region, _gray3(1.0 - np.float32(light.shadow) * shade), dst=region)


def _gray3(values: np.ndarray) -> np.ndarray:
    """A single-channel float32 map repeated into three channels (fast, unlike numpy broadcasting)."""
    return cv2.cvtColor(values, cv2.COLOR_GRAY2BGR)


def _rim_shading(relief: np.ndarray, light: LightState, scale: float) -> np.ndarray:
    """Relative shading of edges and steps: the slope of the softened relief facing the light."""
    sigma = max(0.6, RIM_SIGMA * scale)
    height = cv2.GaussianBlur(relief, (0, 0), sigma)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    ux, uy = light.toward
    gain = 1.1 * sigma * (0.3 + min(light.relief, 2.5))
    shade = (gx * np.float32(-ux) + gy * np.float32(-uy)) * np.float32(gain)
    return np.clip(shade, -0.6, 0.9)


def _sheen(spec: FrameSpec, width: int, height: int, strength: float) -> np.ndarray:
    """A broad specular band across the part, perpendicular to the brushing, placed by the light."""
    n = 9
    grid = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    c, s = math.cos(spec.texture_angle), math.sin(spec.texture_angle)
    along = gx * c + gy * s
    ux, uy = spec.light.toward
    centre = spec.sheen_offset + 0.4 * (ux * c + uy * s)
    band = 1.0 + strength * spec.light.directional * (np.exp(-(((along - centre) / 0.45) ** 2)) - 0.3)
    return cv2.resize(band.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
