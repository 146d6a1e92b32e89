"""Which YOLOv8 head nodes stay in float for each INT8 recipe, and the dataset helpers quantization uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.detector.dataset import label_path, load_dataset, read_labels
from models.detector.errors import DatasetError, QuantizationError
from models.detector.quantization import RECIPES, calibration_subset, detect_head_prefix, head_float_nodes

# Node names as ultralytics 8.4 exports YOLOv8n (model.22 is the Detect head), trimmed to one level.
HEAD = "/model.22/"
NODES = [
    "/model.0/conv/Conv",
    "/model.0/act/Sigmoid",
    "/model.21/cv2/conv/Conv",
    f"{HEAD}cv2.0/cv2.0.0/conv/Conv",
    f"{HEAD}cv2.0/cv2.0.2/Conv",
    f"{HEAD}cv3.0/cv3.0.2/Conv",
    f"{HEAD}Reshape",
    f"{HEAD}Reshape_3",
    f"{HEAD}Concat",
    f"{HEAD}Concat_1",
    f"{HEAD}dfl/Reshape",
    f"{HEAD}dfl/Softmax",
    f"{HEAD}dfl/conv/Conv",
    f"{HEAD}Sigmoid",
    f"{HEAD}Sub",
    f"{HEAD}Concat_2",
    f"{HEAD}Mul_2",
    f"{HEAD}Concat_3",
]
DECODE = {
    f"{HEAD}dfl/Reshape",
    f"{HEAD}dfl/Softmax",
    f"{HEAD}dfl/conv/Conv",
    f"{HEAD}Sigmoid",
    f"{HEAD}Sub",
    f"{HEAD}Concat_2",
    f"{HEAD}Mul_2",
    f"{HEAD}Concat_3",
}
GLUE = {f"{HEAD}Reshape", f"{HEAD}Reshape_3", f"{HEAD}Concat", f"{HEAD}Concat_1"}
OUT_CONV = {f"{HEAD}cv2.0/cv2.0.2/Conv", f"{HEAD}cv3.0/cv3.0.2/Conv"}


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("none", set()),
        ("decode", DECODE),
        ("head-post", DECODE | GLUE),
        ("head-post+out-conv", DECODE | GLUE | OUT_CONV),
    ],
)
def test_float_regions(region: str, expected: set[str]) -> None:
    assert set(head_float_nodes(NODES, f"{HEAD}Concat_3", region)) == expected  # type: ignore[arg-type]


def test_the_backbone_and_the_towers_are_never_kept_in_float() -> None:
    kept = set(head_float_nodes(NODES, f"{HEAD}Concat_3", "head-post+out-conv"))
    assert "/model.0/conv/Conv" not in kept
    assert f"{HEAD}cv2.0/cv2.0.0/conv/Conv" not in kept


def test_head_prefix_comes_from_the_output_node() -> None:
    assert detect_head_prefix("/model.23/Concat_5") == "/model.23/"
    with pytest.raises(QuantizationError):
        detect_head_prefix("output_concat")


def test_recipes_are_named_after_themselves() -> None:
    assert all(name == recipe.name for name, recipe in RECIPES.items())
    assert RECIPES["whole-graph"].float_region == "none"


def test_calibration_subset_is_fixed_and_sorted() -> None:
    images = [Path(f"{i:03d}.jpg") for i in range(50)]
    picked = calibration_subset(images, 10, seed=1)
    assert picked == calibration_subset(images, 10, seed=1)
    assert picked == sorted(picked)
    assert len(set(picked)) == 10
    assert calibration_subset(images, 80) == images


def test_dataset_labels_in_pixels(tmp_path: Path) -> None:
    (tmp_path / "images" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    image = tmp_path / "images" / "val" / "a.jpg"
    image.write_bytes(b"")
    (tmp_path / "labels" / "val" / "a.txt").write_text("2 0.5 0.25 0.2 0.1\n")
    (tmp_path / "data.yaml").write_text("path: .\nval: images/val\nnames: {0: x, 1: y, 2: z}\n")
    spec = load_dataset(tmp_path / "data.yaml")
    assert spec.names == ("x", "y", "z")
    assert spec.images("val") == [image]
    assert label_path(image) == tmp_path / "labels" / "val" / "a.txt"
    boxes, classes = read_labels(image, 200, 100)
    np.testing.assert_allclose(boxes, [[80, 20, 120, 30]], atol=1e-4)
    assert classes.tolist() == [2]
    with pytest.raises(DatasetError):
        spec.images("heldout")
    yaml_text = spec.split_yaml("val", tmp_path / "eval", limit=1).read_text()
    assert "val_first1.txt" in yaml_text
