"""Dataset export for detector training: YOLO layout, splits by seed, a held-out material and light.

Layout under ``out_dir``::

    images/{train,val,test,heldout}/*.jpg   labels/{train,val,test,heldout}/*.txt
    data.yaml            train/val/test for ultralytics (names, nc, path)
    data_heldout.yaml    the same classes with val/test pointing at images/heldout
    manifest.json        counts per class per split, seeds, materials, lightings, settings

Defects are sampled for training, not from machine health: 20 % of images are clean, 45 % carry one
defect, 25 % two, 10 % three, of distinct classes drawn uniformly (so every class is equally
frequent). A defect that would not show (too faint after blur, or no room on the part) is dropped,
so the written counts in the manifest are a little below these rates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from simulators.camera.belt import BELTS
from simulators.camera.defects import DEFECT_CLASSES
from simulators.camera.lighting import HELDOUT_LIGHTING, TRAIN_LIGHTINGS, preset
from simulators.camera.materials import HELDOUT_MATERIAL, TRAIN_MATERIALS, material
from simulators.camera.scene import FrameSpec, Rendered, Renderer, sample_frame_spec
from simulators.camera.seeding import derive_seed, generator
from simulators.errors import ExportError

SPLITS: tuple[str, ...] = ("train", "val", "test")
HELDOUT_SPLIT = "heldout"
DEFECTS_PER_IMAGE_P: tuple[float, ...] = (0.20, 0.45, 0.25, 0.10)
SPLIT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SplitPlan:
    """What one split contains: how many images, which materials and lightings, from which seed."""

    name: str
    n_images: int
    materials: tuple[str, ...]
    lightings: tuple[str, ...]
    seed: int


def training_classes(rng: np.random.Generator) -> tuple[str, ...]:
    """Defect classes for one training image: 0-3 defects of distinct classes, each class equally likely."""
    count = int(rng.choice(len(DEFECTS_PER_IMAGE_P), p=DEFECTS_PER_IMAGE_P))
    return tuple(str(c) for c in rng.choice(DEFECT_CLASSES, size=count, replace=False))


def sample_dataset_frame(
    rng: np.random.Generator,
    renderer: Renderer,
    index: int,
    materials: Sequence[str],
    lightings: Sequence[str],
) -> tuple[FrameSpec, Rendered]:
    """Sample and render one dataset image; materials rotate with ``index`` so every split is balanced."""
    spec = sample_frame_spec(
        rng,
        renderer.width,
        renderer.height,
        material_name=materials[index % len(materials)],
        lighting=lightings[int(rng.integers(len(lightings)))],
        belt=sorted(BELTS)[int(rng.integers(len(BELTS)))],
        classes=training_classes(rng),
        chatter_share=0.25,
    )
    return spec, renderer.render(spec)


def plan_splits(
    n_images: int,
    seed: int,
    materials: Sequence[str],
    lightings: Sequence[str],
    heldout_n: int,
    heldout_materials: Sequence[str],
    heldout_lightings: Sequence[str],
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
) -> tuple[SplitPlan, ...]:
    """Split sizes and seeds; the held-out set shares no material and no lighting with the others."""
    for name in (*materials, *heldout_materials):
        material(name)
    for name in (*lightings, *heldout_lightings):
        preset(name)
    if not materials or not lightings:
        raise ValueError("at least one training material and one training lighting are needed")
    leaked = sorted((set(materials) & set(heldout_materials)) | (set(lightings) & set(heldout_lightings)))
    if leaked:
        raise ValueError(f"held-out materials/lightings also used for training: {', '.join(leaked)}")
    if n_images < 0 or heldout_n < 0:
        raise ValueError("image counts must not be negative")
    if heldout_n and (not heldout_materials or not heldout_lightings):
        raise ValueError("a held-out set needs at least one held-out material and lighting")
    n_val = round(n_images * fractions[1])
    n_test = round(n_images * fractions[2])
    counts = (n_images - n_val - n_test, n_val, n_test)
    plans = [
        SplitPlan(name, count, tuple(materials), tuple(lightings), derive_seed(seed, "split", name))
        for name, count in zip(SPLITS, counts, strict=True)
    ]
    plans.append(
        SplitPlan(
            HELDOUT_SPLIT,
            heldout_n,
            tuple(heldout_materials),
            tuple(heldout_lightings),
            derive_seed(seed, "split", HELDOUT_SPLIT),
        )
    )
    return tuple(plans)


def export_images(
    out_dir: str | os.PathLike[str],
    n_images: int,
    seed: int,
    materials: Sequence[str] = TRAIN_MATERIALS,
    lightings: Sequence[str] = TRAIN_LIGHTINGS,
    *,
    heldout_n: int = 0,
    heldout_materials: Sequence[str] = (HELDOUT_MATERIAL,),
    heldout_lightings: Sequence[str] = (HELDOUT_LIGHTING,),
    size: int = 640,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
    jpeg_quality: tuple[int, int] = (82, 95),
    progress: bool = True,
) -> dict[str, Any]:
    """Render and write a YOLO dataset under ``out_dir``; return the manifest that is also written."""
    plans = plan_splits(
        n_images, seed, materials, lightings, heldout_n, heldout_materials, heldout_lightings, fractions
    )
    root = Path(out_dir)
    total = sum(plan.n_images for plan in plans)
    counts: dict[str, dict[str, Any]] = {}
    try:
        with tqdm(total=total, desc="rendering", unit="img", disable=not progress) as bar:
            for plan in plans:
                if plan.n_images == 0 and plan.name == HELDOUT_SPLIT:
                    continue
                counts[plan.name] = _export_split(root, plan, size, jpeg_quality, bar)
        manifest = _manifest(root, seed, size, plans, counts, jpeg_quality)
        _write_yaml(root, include_heldout=heldout_n > 0)
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        raise ExportError(f"could not write the dataset under {root}: {exc}") from exc
    return manifest


def _export_split(
    root: Path, plan: SplitPlan, size: int, jpeg_quality: tuple[int, int], bar: tqdm
) -> dict[str, Any]:
    """Render one split's images and labels; return its counts."""
    images, labels = root / "images" / plan.name, root / "labels" / plan.name
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(size, size, plan.seed)
    per_class = dict.fromkeys(DEFECT_CLASSES, 0)
    per_material = dict.fromkeys(plan.materials, 0)
    per_lighting = dict.fromkeys(plan.lightings, 0)
    clean = 0
    for index in range(plan.n_images):
        rng = generator(plan.seed, "image", index)
        spec, rendered = sample_dataset_frame(rng, renderer, index, plan.materials, plan.lightings)
        stem = f"{plan.name}_{index:06d}"
        quality = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
        ok, buffer = cv2.imencode(".jpg", rendered.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ExportError(f"OpenCV could not encode {stem}.jpg")
        (images / f"{stem}.jpg").write_bytes(buffer.tobytes())
        lines = "".join(label.to_yolo(size, size) + "\n" for label in rendered.labels)
        (labels / f"{stem}.txt").write_text(lines)
        for label in rendered.labels:
            per_class[label.class_name] += 1
        clean += not rendered.labels
        per_material[spec.material] += 1
        per_lighting[spec.light.name] += 1
        bar.update(1)
    return {
        "images": plan.n_images,
        "clean_images": clean,
        "boxes": sum(per_class.values()),
        "per_class": per_class,
        "per_material": per_material,
        "per_lighting": per_lighting,
    }


def _manifest(
    root: Path,
    seed: int,
    size: int,
    plans: tuple[SplitPlan, ...],
    counts: dict[str, dict[str, Any]],
    jpeg_quality: tuple[int, int],
) -> dict[str, Any]:
    """The manifest: settings, per split seeds, materials, lightings and counts."""
    return {
        "format_version": FORMAT_VERSION,
        "generator": "simulators.camera.export",
        "seed": seed,
        "image_size": [size, size],
        "names": list(DEFECT_CLASSES),
        "defects_per_image_p": list(DEFECTS_PER_IMAGE_P),
        "jpeg_quality": list(jpeg_quality),
        "splits": {
            plan.name: {
                "seed": plan.seed,
                "materials": list(plan.materials),
                "lightings": list(plan.lightings),
                **counts.get(plan.name, {"images": 0}),
            }
            for plan in plans
            if plan.name in counts
        },
        "root": str(root.resolve()),
    }


def _write_yaml(root: Path, *, include_heldout: bool) -> None:
    """data.yaml for train/val/test and, with a held-out set, data_heldout.yaml."""
    names = dict(enumerate(DEFECT_CLASSES))
    data = {
        "path": str(root.resolve()),
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "nc": len(DEFECT_CLASSES),
        "names": names,
    }
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    if include_heldout:
        heldout = {**data, "val": f"images/{HELDOUT_SPLIT}", "test": f"images/{HELDOUT_SPLIT}"}
        (root / "data_heldout.yaml").write_text(yaml.safe_dump(heldout, sort_keys=False))
