"""Run bookkeeping of detector training: wall time per session, changing a run's length on resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.detector.errors import DetectorError
from models.detector.training import record_wall_time, set_run_epochs


def _checkpoint(path: Path, *, epoch: int, epochs: int) -> Path:
    torch.save({"epoch": epoch, "train_args": {"epochs": epochs, "imgsz": 320}, "model": None}, path)
    return path


def test_resume_length_is_rewritten_and_the_rest_kept(tmp_path: Path) -> None:
    last = _checkpoint(tmp_path / "last.pt", epoch=23, epochs=60)
    assert set_run_epochs(last, 40) == 60
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["train_args"] == {"epochs": 40, "imgsz": 320}
    assert ckpt["epoch"] == 23
    assert not (tmp_path / "last.pt.tmp").exists()


def test_a_length_not_beyond_the_finished_epochs_is_refused_and_the_file_untouched(tmp_path: Path) -> None:
    last = _checkpoint(tmp_path / "last.pt", epoch=23, epochs=60)
    before = last.read_bytes()
    with pytest.raises(DetectorError, match="finished 24 epochs"):
        set_run_epochs(last, 24)
    with pytest.raises(DetectorError, match="at least 1"):
        set_run_epochs(last, 0)
    assert last.read_bytes() == before


def test_a_checkpoint_without_training_arguments_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    torch.save({"epoch": -1, "model": None}, path)
    with pytest.raises(DetectorError, match="no training arguments"):
        set_run_epochs(path, 10)


def test_wall_time_keeps_one_entry_per_session(tmp_path: Path) -> None:
    record_wall_time(tmp_path, {"started": "a", "wall_s": 10.0})
    record_wall_time(tmp_path, {"started": "a", "wall_s": 25.0})  # same session, later epoch
    assert record_wall_time(tmp_path, {"started": "b", "wall_s": 5.0}) == 30.0
