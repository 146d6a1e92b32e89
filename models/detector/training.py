"""Train YOLOv8n from its model definition (no pretrained weights), offline, resumable, timed.

A run lives in `<out>/<name>/`: ultralytics writes `weights/{last,best}.pt` every epoch, the
training curves (`results.png`, `results.csv`), PR/F1 curves and the confusion matrix of the final
validation. This module adds `wall_time.json` (one entry per session, so a run resumed three times
shows all three) and `heldout_predictions.png` (a sheet of predictions on held-out images).
`--resume` continues from `weights/last.pt` with the epochs, optimizer and schedule saved in it;
`--resume --epochs N` first rewrites the run's epoch count in that checkpoint (to shorten a run that
will not finish in time, or extend one that is still improving), so the learning-rate schedule and
the mosaic switch-off follow the new length from the next epoch on.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.detector.dataset import HELDOUT_SPLIT, load_dataset
from models.detector.errors import DatasetError, DetectorError
from models.detector.offline import DEFAULT_CONFIG_DIR, configure_offline

log = logging.getLogger(__name__)

MODEL_DEFINITION = "yolov8n.yaml"
WALL_TIME_FILE = "wall_time.json"
SHEET_FILE = "heldout_predictions.png"
COMMAND_FILE = "command.txt"


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """What one training run needs; everything else is ultralytics' default."""

    data: Path
    out: Path = Path("runs/detector")
    name: str = "yolov8n"
    epochs: int = 100
    imgsz: int = 320
    batch: int = 16
    model: str = MODEL_DEFINITION
    device: str = "cpu"
    workers: int = 0
    seed: int = 0
    patience: int = 100
    cache: str | bool = "ram"
    close_mosaic: int = 10
    plots: bool = True
    config_dir: Path = DEFAULT_CONFIG_DIR
    overrides: dict[str, Any] = field(default_factory=dict)  # any other ultralytics train argument
    command: str = ""  # the command line, appended to <run>/command.txt

    @property
    def run_dir(self) -> Path:
        """Where ultralytics writes this run."""
        return self.out.resolve() / self.name

    @property
    def last(self) -> Path:
        """The checkpoint `--resume` continues from."""
        return self.run_dir / "weights" / "last.pt"

    def train_args(self) -> dict[str, Any]:
        """Keyword arguments of `YOLO.train` for a fresh run."""
        args: dict[str, Any] = {
            "data": str(self.data),
            "epochs": self.epochs,
            "imgsz": self.imgsz,
            "batch": self.batch,
            "device": self.device,
            "workers": self.workers,
            "seed": self.seed,
            "patience": self.patience,
            "cache": self.cache,
            "close_mosaic": self.close_mosaic,
            "plots": self.plots,
            "project": str(self.out.resolve()),
            "name": self.name,
            "exist_ok": True,
            "pretrained": False,
            "amp": False,
            "val": True,
        }
        return args | self.overrides


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Where the run is, its best and last weights, this session's wall time, final metrics."""

    run_dir: Path
    best: Path
    last: Path
    wall_s: float
    metrics: dict[str, float]
    sheet: Path | None


def record_wall_time(run_dir: Path, entry: dict[str, Any]) -> float:
    """Insert or update this session (keyed by `started`) in `wall_time.json`; return the run's total."""
    path = run_dir / WALL_TIME_FILE
    try:
        sessions = json.loads(path.read_text(encoding="utf-8"))["sessions"]
    except (OSError, ValueError, KeyError, TypeError):
        sessions = []
    sessions = [s for s in sessions if s.get("started") != entry["started"]] + [entry]
    total = round(sum(float(s.get("wall_s", 0.0)) for s in sessions), 1)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"total_wall_s": total, "sessions": sessions}, indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return total


def _epoch_of(checkpoint: Path) -> int:
    """The last finished epoch stored in a checkpoint (-1 if unknown)."""
    import torch

    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception:  # a checkpoint torn by a killed session: let ultralytics report it
        return -1
    return int(ckpt.get("epoch", -1)) if isinstance(ckpt, dict) else -1


def set_run_epochs(checkpoint: Path, epochs: int) -> int:
    """Rewrite the epoch count a checkpoint resumes with; return the one it had."""
    import torch

    if epochs < 1:
        raise DetectorError(f"epochs must be at least 1, got {epochs}")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("train_args"), dict):
        raise DetectorError(f"{checkpoint} holds no training arguments; it cannot be resumed")
    done = int(ckpt.get("epoch", -1)) + 1
    if epochs <= done:
        raise DetectorError(f"{checkpoint} has finished {done} epochs already; ask for more than that")
    before = int(ckpt["train_args"].get("epochs", 0))
    ckpt["train_args"]["epochs"] = epochs
    tmp = checkpoint.with_name(checkpoint.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(checkpoint)
    return before


def train(config: TrainConfig, *, resume: bool = False, resume_epochs: int | None = None) -> TrainResult:
    """Train (or resume) a run; write curves, wall time and the held-out prediction sheet."""
    if not config.data.is_file():
        raise DatasetError(f"{config.data} does not exist; export a dataset first (iiot sim export-images)")
    dataset = load_dataset(config.data)
    configure_offline(config.config_dir)
    from ultralytics import YOLO

    started = datetime.now(UTC).isoformat(timespec="seconds")
    if config.command:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        with (config.run_dir / COMMAND_FILE).open("a", encoding="utf-8") as handle:
            handle.write(config.command + "\n")
    t0 = time.monotonic()
    first_epoch = 0
    if resume:
        if not config.last.is_file():
            raise DetectorError(f"cannot resume: {config.last} does not exist (start without --resume)")
        first_epoch = _epoch_of(config.last) + 1
        if resume_epochs is not None:
            before = set_run_epochs(config.last, resume_epochs)
            log.info("run length changed from %d to %d epochs", before, resume_epochs)
        log.info("resuming %s at epoch %d", config.last, first_epoch + 1)

    def session(trainer: Any) -> dict[str, Any]:
        return {
            "started": started,
            "wall_s": round(time.monotonic() - t0, 1),
            "resumed": resume,
            "first_epoch": first_epoch + 1,
            "last_epoch": int(getattr(trainer, "epoch", first_epoch - 1)) + 1,
        }

    def on_epoch_end(trainer: Any) -> None:  # a killed session still leaves its time behind
        record_wall_time(Path(trainer.save_dir), session(trainer))

    if resume:
        model = YOLO(str(config.last))
        model.add_callback("on_fit_epoch_end", on_epoch_end)
        model.train(resume=True, data=str(config.data), workers=config.workers, device=config.device)
    else:
        model = YOLO(config.model, task="detect")
        model.add_callback("on_fit_epoch_end", on_epoch_end)
        model.train(**config.train_args())
    wall = time.monotonic() - t0

    trainer = model.trainer
    run_dir = Path(trainer.save_dir) if trainer is not None else config.run_dir
    metrics = {k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items()}
    total = record_wall_time(run_dir, session(trainer))
    log.info("training session took %.0f s (run total %.0f s)", wall, total)

    best = run_dir / "weights" / "best.pt"
    sheet = None
    if HELDOUT_SPLIT in dataset.splits or "test" in dataset.splits:
        from models.detector.prediction_sheet import write_prediction_sheet

        split = HELDOUT_SPLIT if HELDOUT_SPLIT in dataset.splits else "test"
        weights = best if best.is_file() else run_dir / "weights" / "last.pt"
        sheet = write_prediction_sheet(
            weights, dataset, split, run_dir / SHEET_FILE, imgsz=_imgsz_of(model, config.imgsz)
        )
    return TrainResult(run_dir, best, run_dir / "weights" / "last.pt", wall, metrics, sheet)


def _imgsz_of(model: Any, default: int) -> int:
    try:
        return int(model.trainer.args.imgsz)
    except (AttributeError, TypeError, ValueError):
        return default


def config_summary(config: TrainConfig) -> str:
    """The config as one JSON line, for logs."""
    data = asdict(config)
    return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in data.items()})
