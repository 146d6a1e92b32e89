"""Dataset export: YOLO layout, data.yaml, manifest counts, no held-out leaks, splits by seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from simulators.camera.commands import contact_sheet_command, export_images_command
from simulators.camera.defects import DEFECT_CLASSES
from simulators.camera.export import export_images, plan_splits
from simulators.camera.lighting import HELDOUT_LIGHTING, TRAIN_LIGHTINGS
from simulators.camera.materials import HELDOUT_MATERIAL, TRAIN_MATERIALS

SPLITS = ("train", "val", "test", "heldout")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("camera_dataset")
    manifest = export_images(root, 20, seed=4, heldout_n=6, size=128, progress=False)
    return root, manifest


def test_layout_and_data_yaml(dataset: tuple[Path, dict[str, Any]]) -> None:
    root, _ = dataset
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(DEFECT_CLASSES))
    assert data["nc"] == 5
    assert Path(data["path"]) == root.resolve()
    for split in ("train", "val", "test"):
        assert (root / data[split]).is_dir()
    heldout = yaml.safe_load((root / "data_heldout.yaml").read_text())
    assert heldout["val"] == "images/heldout"
    for split in SPLITS:
        images = sorted(p.stem for p in (root / "images" / split).glob("*.jpg"))
        labels = sorted(p.stem for p in (root / "labels" / split).glob("*.txt"))
        assert images
        assert images == labels


def test_labels_are_normalized(dataset: tuple[Path, dict[str, Any]]) -> None:
    root, _ = dataset
    boxes = 0
    for path in (root / "labels").glob("*/*.txt"):
        for line in path.read_text().splitlines():
            class_id, *values = line.split()
            assert 0 <= int(class_id) < len(DEFECT_CLASSES)
            assert all(0.0 <= float(v) <= 1.0 for v in values)
            boxes += 1
    assert boxes > 0


def test_manifest_counts_and_no_material_leak(dataset: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = dataset
    assert json.loads((root / "manifest.json").read_text()) == manifest
    splits = manifest["splits"]
    assert [splits[s]["images"] for s in SPLITS] == [16, 2, 2, 6]
    for split in ("train", "val", "test"):
        assert HELDOUT_MATERIAL not in splits[split]["materials"]
        assert splits[split]["per_material"].get(HELDOUT_MATERIAL, 0) == 0
        assert HELDOUT_LIGHTING not in splits[split]["per_lighting"]
    assert set(splits["heldout"]["per_material"]) == {HELDOUT_MATERIAL}
    assert set(splits["heldout"]["per_lighting"]) == {HELDOUT_LIGHTING}
    for split in SPLITS:
        label_lines = sum(len(p.read_text().splitlines()) for p in (root / "labels" / split).glob("*.txt"))
        assert splits[split]["boxes"] == label_lines == sum(splits[split]["per_class"].values())
    assert len({splits[s]["seed"] for s in SPLITS}) == 4


def test_splits_share_no_image(dataset: tuple[Path, dict[str, Any]]) -> None:
    root, _ = dataset
    seen: dict[str, str] = {}
    for split in SPLITS:
        for path in (root / "images" / split).glob("*.jpg"):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest not in seen, f"{path.name} duplicates {seen.get(digest)}"
            seen[digest] = path.name


def test_training_defect_rate(tmp_path: Path) -> None:
    manifest = export_images(
        tmp_path, 60, seed=1, heldout_n=0, size=96, progress=False, fractions=(1.0, 0.0, 0.0)
    )
    train = manifest["splits"]["train"]
    assert 0.05 <= train["clean_images"] / train["images"] <= 0.45
    assert all(train["per_class"][c] > 0 for c in DEFECT_CLASSES)
    assert not (tmp_path / "data_heldout.yaml").exists()


def test_plan_rejects_leaks() -> None:
    with pytest.raises(ValueError, match="held-out"):
        plan_splits(
            10,
            0,
            (*TRAIN_MATERIALS, HELDOUT_MATERIAL),
            TRAIN_LIGHTINGS,
            5,
            (HELDOUT_MATERIAL,),
            (HELDOUT_LIGHTING,),
        )
    with pytest.raises(ValueError, match="held-out"):
        plan_splits(
            10,
            0,
            TRAIN_MATERIALS,
            (*TRAIN_LIGHTINGS, HELDOUT_LIGHTING),
            5,
            (HELDOUT_MATERIAL,),
            (HELDOUT_LIGHTING,),
        )
    with pytest.raises(ValueError, match="unknown material"):
        plan_splits(10, 0, ("wood",), TRAIN_LIGHTINGS, 0, (), ())


def test_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        export_images_command,
        [
            "--out",
            str(tmp_path / "ds"),
            "--n",
            "4",
            "--seed",
            "2",
            "--size",
            "96",
            "--heldout-n",
            "2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ds" / "data.yaml").exists()
    result = runner.invoke(
        export_images_command, ["--out", str(tmp_path / "x"), "--materials", "copper", "--n", "1"]
    )
    assert result.exit_code != 0
    assert "held-out" in result.output
    result = runner.invoke(
        contact_sheet_command, ["--out", str(tmp_path / "s.png"), "--n", "2", "--size", "96"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").stat().st_size > 1000
