"""Contact sheets: a grid of rendered frames with their boxes and class names, for people to look at."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from simulators.camera.export import HELDOUT_SPLIT, plan_splits, sample_dataset_frame
from simulators.camera.frames import BoxLabel
from simulators.camera.lighting import HELDOUT_LIGHTING, TRAIN_LIGHTINGS
from simulators.camera.materials import HELDOUT_MATERIAL, TRAIN_MATERIALS
from simulators.camera.scene import Renderer
from simulators.camera.seeding import generator

CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "scratch": (0, 220, 255),
    "dent": (255, 160, 0),
    "crack": (60, 60, 255),
    "stain": (80, 255, 80),
    "missing_hole": (255, 80, 255),
}


@dataclass(frozen=True, eq=False)
class SheetTile:
    """One frame on the sheet: the image, its boxes, and a caption."""

    image: np.ndarray
    labels: tuple[BoxLabel, ...]
    caption: str


def annotate(image: np.ndarray, labels: Sequence[BoxLabel], caption: str = "") -> np.ndarray:
    """A copy of ``image`` with each box (its exact pixel extent) and class name drawn on it."""
    out = image.copy()
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.35, out.shape[1] / 1400)
    for label in labels:
        colour = CLASS_COLORS.get(label.class_name, (255, 255, 255))
        x1, y1 = math.floor(label.x1) - 1, math.floor(label.y1) - 1
        x2, y2 = math.ceil(label.x2), math.ceil(label.y2)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 1)
        (tw, th), _ = cv2.getTextSize(label.class_name, font, scale, 1)
        ty = y1 - 3 if y1 - th - 4 >= 0 else y2 + th + 3
        cv2.rectangle(out, (x1, ty - th - 2), (x1 + tw + 2, ty + 2), (0, 0, 0), -1)
        cv2.putText(out, label.class_name, (x1 + 1, ty), font, scale, colour, 1, cv2.LINE_AA)
    if caption:
        (tw, th), _ = cv2.getTextSize(caption, font, scale, 1)
        h = out.shape[0]
        cv2.rectangle(out, (0, h - th - 8), (tw + 8, h), (0, 0, 0), -1)
        cv2.putText(out, caption, (4, h - 5), font, scale, (235, 235, 235), 1, cv2.LINE_AA)
    return out


def shrink(tile: SheetTile, width: int) -> SheetTile:
    """The tile scaled to ``width`` pixels wide (area interpolation), its boxes scaled alike."""
    h, w = tile.image.shape[:2]
    if width >= w:
        return tile
    f = width / w
    image = cv2.resize(tile.image, (width, max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    labels = tuple(
        BoxLabel(b.class_id, b.class_name, b.x1 * f, b.y1 * f, b.x2 * f, b.y2 * f) for b in tile.labels
    )
    return SheetTile(image, labels, tile.caption)


def compose(
    tiles: Sequence[SheetTile], columns: int, gap: int = 4, tile_width: int | None = None
) -> np.ndarray:
    """Annotated tiles in a grid on a dark background, each shrunk to ``tile_width`` if given."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    if tile_width:
        tiles = [shrink(t, tile_width) for t in tiles]
    h, w = tiles[0].image.shape[:2]
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 24, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y : y + h, x : x + w] = annotate(tile.image, tile.labels, tile.caption)
    return sheet


def dataset_tiles(n: int, seed: int, size: int = 640, heldout: int | None = None) -> list[SheetTile]:
    """``n`` frames as the dataset export makes them; the last ``heldout`` ones from the held-out set."""
    n_heldout = max(1, n // 4) if heldout is None else heldout
    plans = {
        p.name: p
        for p in plan_splits(
            n - n_heldout,
            seed,
            TRAIN_MATERIALS,
            TRAIN_LIGHTINGS,
            n_heldout,
            (HELDOUT_MATERIAL,),
            (HELDOUT_LIGHTING,),
            fractions=(1.0, 0.0, 0.0),
        )
    }
    tiles = []
    for plan in (plans["train"], plans[HELDOUT_SPLIT]):
        renderer = Renderer(size, size, plan.seed)
        for index in range(plan.n_images):
            rng = generator(plan.seed, "image", index)
            spec, rendered = sample_dataset_frame(rng, renderer, index, plan.materials, plan.lightings)
            tag = " [held out]" if plan.name == HELDOUT_SPLIT else ""
            tiles.append(
                SheetTile(rendered.image, rendered.labels, f"{spec.material} / {spec.light.name}{tag}")
            )
    return tiles


def contact_sheet(
    n: int, seed: int, size: int = 640, columns: int | None = None, tile_width: int | None = None
) -> np.ndarray:
    """A contact sheet of ``n`` dataset frames (a quarter of them held out) with boxes and captions."""
    if n < 1:
        raise ValueError("n must be at least 1")
    columns = columns or max(1, int(np.ceil(np.sqrt(n))))
    return compose(dataset_tiles(n, seed, size), columns, tile_width=tile_width)
