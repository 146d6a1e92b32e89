"""Label boxes cover exactly the pixels a defect changed: render with and without it, same seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulators.camera.defects import DEFECT_CLASSES
from simulators.camera.lighting import LIGHTINGS
from simulators.camera.materials import MATERIALS
from simulators.camera.scene import Renderer, sample_frame_spec
from simulators.camera.seeding import generator

SIZE = 256
TOLERANCE_PX = 1


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(SIZE, SIZE, seed=11)


def difference_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.nonzero((a != b).any(axis=2))
    if rows.size == 0:
        return None
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


@pytest.mark.parametrize("cls", DEFECT_CLASSES)
def test_box_equals_difference_mask(renderer: Renderer, cls: str) -> None:
    materials, lightings = sorted(MATERIALS), sorted(LIGHTINGS)
    checked = 0
    for i in range(12):
        rng = generator(2024, cls, i)
        spec = sample_frame_spec(
            rng,
            SIZE,
            SIZE,
            material_name=materials[i % len(materials)],
            lighting=lightings[i % len(lightings)],
            belt="grey_pvc",
            classes=(cls,),
        )
        with_defect = renderer.render(spec)
        without = renderer.render(dataclasses.replace(spec, defects=()))
        box = difference_box(with_defect.image, without.image)
        if not with_defect.labels:
            assert box is None, "pixels changed but no label was written"
            continue
        (label,) = with_defect.labels
        assert label.class_name == cls
        assert box is not None
        got = (label.x1, label.y1, label.x2, label.y2)
        assert max(abs(g - b) for g, b in zip(got, box, strict=True)) <= TOLERANCE_PX, (i, got, box)
        checked += 1
    assert checked >= 6, f"too few {cls} defects were drawn visibly"


def test_boxes_stay_on_the_part(renderer: Renderer) -> None:
    for i in range(6):
        rng = generator(99, i)
        spec = sample_frame_spec(
            rng,
            SIZE,
            SIZE,
            material_name="cast_iron",
            lighting="overhead_led",
            belt="dark_rubber",
            classes=("scratch", "crack", "stain"),
        )
        x0, y0, x1, y1 = spec.geometry.bbox(3)
        reach_x, reach_y = spec.optics.reach
        for label in renderer.render(spec).labels:
            assert x0 - reach_x <= label.x1
            assert label.x2 <= x1 + reach_x
            assert y0 - reach_y <= label.y1
            assert label.y2 <= y1 + reach_y


def test_no_defects_no_labels(renderer: Renderer) -> None:
    spec = sample_frame_spec(
        generator(5),
        SIZE,
        SIZE,
        material_name="painted_steel",
        lighting="ring_cool",
        belt="green_pvc",
        classes=(),
    )
    assert renderer.render(spec).labels == ()


def test_spec_size_must_match(renderer: Renderer) -> None:
    spec = sample_frame_spec(
        generator(5), 128, 128, material_name="copper", lighting="low_angle_warm", belt="blue_pu", classes=()
    )
    with pytest.raises(ValueError, match="renderer is"):
        renderer.render(spec)
    with pytest.raises(ValueError, match="unknown defect"):
        sample_frame_spec(
            generator(5),
            SIZE,
            SIZE,
            material_name="copper",
            lighting="ring_cool",
            belt="blue_pu",
            classes=("rust",),
        )
