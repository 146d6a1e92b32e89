"""Dataset export: files, keys, and splits that do not leak machines or seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from simulators.errors import ExportError
from simulators.export import ExportPlan, assign_splits, check_no_leak, export_timeseries, load_machine


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ds")
    index = export_timeseries(
        ExportPlan(machines=10, days=0.004, seed=9, hazard_per_day=50, mean_life_h=0.05), out
    )
    return out, index


def test_index_and_npz_files(exported: tuple[Path, dict]) -> None:
    out, index = exported
    assert json.loads((out / "index.json").read_text()) == index
    assert len(index["files"]) == 10
    entry = index["files"][0]
    data = load_machine(out / entry["path"])
    steps = data["timestamps_ms"].size
    assert steps == math.ceil(0.004 * 86400 / 10)  # whole 10 s windows
    assert data["values"].shape == (steps, data["channels"].size)
    for key in ("health", "fault", "fault_active", "rul_s", "running"):
        assert data[key].shape == (steps,)
    assert np.all(np.diff(data["timestamps_ms"]) == 10000)
    assert set(np.unique(data["fault"])) <= set(range(len(index["fault_names"])))


def test_faults_and_failures_are_labelled(exported: tuple[Path, dict]) -> None:
    out, index = exported
    failed = [f for f in index["files"] if f["failures"]]
    assert failed
    data = load_machine(out / failed[0]["path"])
    assert (data["rul_s"] == 0).any()
    assert (data["health"] == 0).any()
    assert data["fault_active"].any()


def test_splits_share_no_machine_and_no_seed(exported: tuple[Path, dict]) -> None:
    _, index = exported
    splits = index["splits"]
    all_ids = [m for ids in splits.values() for m in ids]
    assert len(all_ids) == len(set(all_ids)) == 10
    assert len(set(index["seeds"].values())) == len(index["seeds"])
    for entry in index["files"]:
        assert entry["machine_id"] in splits[entry["split"]]
        assert entry["seed"] == index["seeds"][entry["split"]]


def test_leak_check_rejects_shared_machines_and_seeds() -> None:
    with pytest.raises(ExportError, match="machine m1 is in both train and test"):
        check_no_leak({"splits": {"train": ["m1"], "test": ["m1"]}, "seeds": {"train": 1, "test": 2}})
    with pytest.raises(ExportError, match="share a seed"):
        check_no_leak({"splits": {"train": ["m1"], "test": ["m2"]}, "seeds": {"train": 1, "test": 1}})


def test_assignment_is_a_partition() -> None:
    ids = tuple(f"m{i}" for i in range(101))
    splits = assign_splits(ids, 4, (0.7, 0.15, 0.15))
    assert sorted(m for part in splits.values() for m in part) == sorted(ids)
    assert [len(p) for p in splits.values()] == [71, 15, 15]


def test_shifted_variant_is_its_own_split(tmp_path: Path) -> None:
    index = export_timeseries(ExportPlan(machines=3, days=0.001, seed=9, shifted=True), tmp_path)
    assert list(index["splits"]) == ["test_shifted"]
    assert all(m.startswith("x") for m in index["splits"]["test_shifted"])
