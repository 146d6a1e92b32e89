"""The YOLO-layout dataset the camera twin exports: splits, images, labels in pixels, per-split YAML.

`simulators.camera.export.export_images` writes `images/{train,val,test,heldout}`, the matching
`labels/...` (one `class cx cy w h` line per box, normalized) and `data.yaml` (train/val/test,
names). Held-out material and lighting live in the `heldout` split (and `data_heldout.yaml`).
Labels sit where ultralytics looks for them: the last `/images/` of the path becomes `/labels/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from models.detector.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
HELDOUT_SPLIT = "heldout"
EVAL_SPLITS: tuple[str, ...] = ("test", HELDOUT_SPLIT)  # held-out seeds; held-out material + lighting


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A dataset's root, its class names and the image folder of every split present on disk."""

    yaml_path: Path
    root: Path
    names: tuple[str, ...]
    splits: dict[str, Path]

    def images(self, split: str, limit: int | None = None) -> list[Path]:
        """Image files of a split, sorted by name; DatasetError if the split does not exist."""
        folder = self.splits.get(split)
        if folder is None:
            raise DatasetError(f"{self.yaml_path}: no split {split!r} (have {sorted(self.splits)})")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return files[:limit] if limit is not None else files

    def split_yaml(self, split: str, out_dir: Path, limit: int | None = None) -> Path:
        """A data YAML whose `val` is `split` (its first `limit` images), for ultralytics' validator."""
        folder = self.splits.get(split)
        if folder is None:
            raise DatasetError(f"{self.yaml_path}: no split {split!r} (have {sorted(self.splits)})")
        out_dir.mkdir(parents=True, exist_ok=True)
        val = str(folder)
        if limit is not None:
            listing = out_dir / f"{split}_first{limit}.txt"
            listing.write_text("".join(f"{p}\n" for p in self.images(split, limit)), encoding="utf-8")
            val = str(listing)
        data = {
            "path": str(self.root),
            "train": str(self.splits.get("train", folder)),
            "val": val,
            "names": dict(enumerate(self.names)),
            "nc": len(self.names),
        }
        path = out_dir / f"data_{split}{'' if limit is None else f'_first{limit}'}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path


def _names(raw: Any, path: Path) -> tuple[str, ...]:
    if isinstance(raw, dict):
        try:
            return tuple(str(raw[i]) for i in range(len(raw)))
        except KeyError as exc:
            raise DatasetError(f"{path}: names must be keyed 0..n-1, got {sorted(raw)}") from exc
    if isinstance(raw, list | tuple):
        return tuple(str(n) for n in raw)
    raise DatasetError(f"{path}: names must be a list or a mapping, got {type(raw).__name__}")


def load_dataset(yaml_path: str | Path) -> DatasetSpec:
    """Read a data.yaml and find every split folder (train/val/test and heldout) that exists."""
    path = Path(yaml_path).resolve()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read dataset description {path}: {exc}") from exc
    if not isinstance(data, dict) or "names" not in data:
        raise DatasetError(f"{path}: not a YOLO data.yaml (needs at least names and splits)")
    root = Path(data.get("path") or path.parent)
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    splits: dict[str, Path] = {}
    for key in ("train", "val", "test", HELDOUT_SPLIT):
        value = data.get(key)
        folder = root / str(value) if value else root / "images" / key
        if folder.is_dir():
            splits[key] = folder
    if "train" not in splits and "val" not in splits:
        raise DatasetError(f"{path}: neither a train nor a val image folder exists under {root}")
    return DatasetSpec(yaml_path=path, root=root, names=_names(data["names"], path), splits=splits)


def label_path(image: Path) -> Path:
    """The label file of an image: the last `images` folder of the path replaced by `labels`."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    raise DatasetError(f"{image} is not inside an images/ folder")


def read_labels(
    image: Path, width: int, height: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Ground truth of an image: xyxy boxes in pixels [n, 4] and class ids [n] (empty if no file)."""
    path = label_path(image)
    if not path.is_file():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(len(r) != 5 for r in rows):
        raise DatasetError(f"{path}: every label line needs 5 fields (class cx cy w h)")
    if not rows:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    values = np.asarray(rows, dtype=np.float64)
    cx, cy, w, h = (values[:, i] for i in range(1, 5))
    x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
    boxes = np.stack([x1, y1, x1 + w * width, y1 + h * height], axis=1)
    return boxes.astype(np.float32), values[:, 0].astype(np.int64)
