"""Training loop of the fault predictor: AdamW, warm-up then cosine, clipping, early stopping.

Batches are gathered from the split's normalized feature rows by index arithmetic (window end minus
``window - 1 .. 0``), so no window is ever materialized outside a batch. Class imbalance: the
fail-soon loss has ``pos_weight = negatives / positives`` (capped), the fault-type loss inverse
square-root frequency weights. Faults in their first hours carry almost no damage and look healthy;
their windows keep their labels but weigh ``damage / visible_damage`` (at least 0.1) in the
fail-soon and fault-type losses, so they do not teach the model to doubt healthy machines.
Training windows are augmented (``models.fault.augment``) to look like other machine sizes.
Seeds are fixed (python, numpy, torch); mixed precision (bfloat16 autocast) is used only on a
CUDA device. The best epoch by validation loss is kept; training stops after ``patience`` epochs
without improvement.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from models.fault.augment import Augmentation
from models.fault.dataset import SplitData, WindowConfig
from models.fault.errors import TrainingError
from models.fault.features import (
    LOG_FLOORS,
    N_FEATURES,
    Normalization,
    fit_log_normalization,
    fit_normalization,
)
from models.fault.metrics import best_f1_threshold, binary_metrics
from models.fault.model import FaultPredictor, ModelConfig, save_checkpoint

log = logging.getLogger(__name__)

N_CLASSES = 8  # simulators.faults.FaultType, "none" included


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Optimizer, schedule, loss weights and stopping rule."""

    epochs: int = 30
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05
    clip: float = 1.0
    patience: int = 5
    fault_weight: float = 0.5
    rul_weight: float = 1.0
    max_pos_weight: float = 10.0
    visible_damage: float = 0.05
    augment_log_sigma: float = 0.15
    augment_temp_c: float = 3.0
    hidden: int = 48
    layers: int = 1
    dropout: float = 0.1
    seed: int = 0
    threads: int = 1
    device: str = "auto"


@dataclass(frozen=True, slots=True)
class TrainResult:
    """The best model and what training saw."""

    model: FaultPredictor
    normalization: Normalization
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float


def set_seeds(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear from 0 to 1 over ``warmup`` steps, then cosine down to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def early_weights(split: SplitData, valid: np.ndarray, visible_damage: float) -> np.ndarray:
    """Per-window loss weight: ``damage / visible_damage`` (at least 0.1) for faults not visible yet."""
    damage = split.damage[split.ends[valid]].astype(np.float64)
    faulty = split.targets.fault[valid] > 0
    if visible_damage <= 0:
        return np.ones(damage.size, dtype=np.float32)
    early = np.clip(damage / visible_damage, 0.1, 1.0)
    return np.where(faulty, early, 1.0).astype(np.float32)


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse square-root frequency weights, mean 1 over the classes present."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1.0)), 0.0)
    present = weights > 0
    weights[present] /= weights[present].mean()
    return weights


class WindowBatches:
    """Normalized rows of a split on a device and the valid windows' targets, served in batches."""

    def __init__(
        self,
        split: SplitData,
        norm: Normalization,
        window: int,
        device: torch.device,
        visible_damage: float = 0.0,
    ) -> None:
        valid = split.targets.valid
        self.rows = torch.from_numpy(norm.apply(split.rows)).to(device)
        self.ends = torch.from_numpy(split.ends[valid]).to(device)
        self.fail = torch.from_numpy(split.targets.fail_soon[valid].astype(np.float32)).to(device)
        self.fault = torch.from_numpy(split.targets.fault[valid]).to(device)
        self.rul = torch.from_numpy(split.targets.rul_s[valid]).to(device)
        self.weight = torch.from_numpy(early_weights(split, valid, visible_damage)).to(device)
        self.steps = torch.arange(-window + 1, 1, device=device)

    def __len__(self) -> int:
        return int(self.ends.numel())

    def windows(self, index: Tensor) -> Tensor:
        """``[len(index), window, F]`` gathered from the rows."""
        return self.rows[self.ends[index][:, None] + self.steps]

    def order(self, shuffle: bool, generator: torch.Generator) -> Tensor:
        """Window indices for one pass."""
        n = len(self)
        return torch.randperm(n, generator=generator) if shuffle else torch.arange(n)


class Losses(nn.Module):
    """Weighted sum of the three head losses."""

    def __init__(
        self, pos_weight: float, fault_weights: np.ndarray, config: TrainConfig, rul_cap_s: float
    ) -> None:
        super().__init__()
        self.fail = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight), reduction="none")
        self.fault = nn.CrossEntropyLoss(
            weight=torch.as_tensor(fault_weights, dtype=torch.float32), reduction="none"
        )
        self.rul = nn.SmoothL1Loss(beta=0.05)
        self.config = config
        self.rul_cap_s = rul_cap_s

    def forward(
        self,
        outputs: tuple[Tensor, Tensor, Tensor],
        fail: Tensor,
        fault: Tensor,
        rul_s: Tensor,
        weight: Tensor,
    ) -> Tensor:
        """Total loss of one batch (``weight`` per window scales the fail and fault-type terms)."""
        fail_logit, fault_logits, rul = outputs
        scale = weight.sum().clamp(min=1e-6)
        return (
            (self.fail(fail_logit.float(), fail) * weight).sum() / scale
            + self.config.fault_weight * (self.fault(fault_logits.float(), fault) * weight).sum() / scale
            + self.config.rul_weight * self.rul(rul.float(), rul_s / self.rul_cap_s)
        )


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def predict(
    model: FaultPredictor, batches: WindowBatches, batch: int = 1024, amp: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fail probability, fault class probabilities and RUL seconds for every window of ``batches``."""
    model.eval()
    fail, fault, rul = [], [], []
    device_type = batches.rows.device.type
    for start in range(0, len(batches), batch):
        index = torch.arange(start, min(start + batch, len(batches)), device=batches.rows.device)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
            f, k, r = model(batches.windows(index))
        fail.append(torch.sigmoid(f.float()).cpu().numpy())
        fault.append(torch.softmax(k.float(), dim=1).cpu().numpy())
        rul.append((r.float() * model.config.rul_cap_s).cpu().numpy())
    return np.concatenate(fail), np.concatenate(fault), np.concatenate(rul)


def train(
    train_split: SplitData,
    val_split: SplitData,
    window: WindowConfig,
    config: TrainConfig,
    checkpoint: Path | None = None,
    extra: dict[str, Any] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train on ``train_split``, stop early on ``val_split``; save the best to ``checkpoint``."""
    set_seeds(config.seed)
    torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    amp = device.type == "cuda"
    norm = fit_normalization(train_split.rows)
    train_b = WindowBatches(train_split, norm, window.window, device, config.visible_damage)
    val_b = WindowBatches(val_split, norm, window.window, device, config.visible_damage)
    positives = float(train_b.fail.sum())
    if positives == 0 or len(val_b) == 0:
        raise TrainingError("the training split has no fail-soon windows or the validation split no windows")
    pos_weight = min(config.max_pos_weight, (len(train_b) - positives) / positives)
    fault_w = class_weights(train_split.targets.fault[train_split.targets.valid], N_CLASSES)
    losses = Losses(pos_weight, fault_w, config, window.rul_cap_s).to(device)

    model = FaultPredictor(
        ModelConfig(
            n_features=N_FEATURES,
            n_classes=N_CLASSES,
            hidden=config.hidden,
            layers=config.layers,
            dropout=config.dropout,
            rul_cap_s=window.rul_cap_s,
        )
    )
    logs = fit_log_normalization(train_split.rows)
    model.transform.set_statistics(
        torch.from_numpy(norm.mean),
        torch.from_numpy(norm.std),
        torch.from_numpy(LOG_FLOORS),
        torch.from_numpy(logs.mean),
        torch.from_numpy(logs.std),
    )
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = math.ceil(len(train_b) / config.batch)
    total = per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, total, max(1, int(config.warmup * total)))
    )
    generator = torch.Generator().manual_seed(config.seed)
    augment = Augmentation(config.augment_log_sigma, config.augment_temp_c)
    mean, std = (torch.from_numpy(v).to(device) for v in (norm.mean, norm.std))
    log.info(
        "training on %s: %d windows (%.0f fail-soon, pos_weight %.2f), val %d windows, %d steps/epoch",
        device,
        len(train_b),
        positives,
        pos_weight,
        len(val_b),
        per_epoch,
    )
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = float("inf"), -1, None
    started = time.monotonic()
    for epoch in range(config.epochs):
        model.train()
        running, seen = 0.0, 0
        order = train_b.order(True, generator).to(device)
        bar = tqdm(range(per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", mininterval=5.0)
        for step in bar:
            index = order[step * config.batch : (step + 1) * config.batch]
            batch = augment(train_b.windows(index), mean, std, generator)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                outputs = model(batch)
            loss = losses(
                outputs, train_b.fail[index], train_b.fault[index], train_b.rul[index], train_b.weight[index]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            schedule.step()
            running += float(loss.detach()) * index.numel()
            seen += index.numel()
            bar.set_postfix(loss=f"{running / seen:.4f}", refresh=False)
        val_loss, val_f1 = _validate(model, val_b, losses, amp)
        row = {
            "epoch": float(epoch + 1),
            "train_loss": running / seen,
            "val_loss": val_loss,
            "val_f1": val_f1,
            "lr": float(schedule.get_last_lr()[0]),
            "seconds": time.monotonic() - started,
        }
        history.append(row)
        log.info("epoch %d: train %.4f val %.4f val F1 %.3f", epoch + 1, row["train_loss"], val_loss, val_f1)
        if on_epoch is not None:
            on_epoch(row)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch + 1
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        elif epoch + 1 - best_epoch >= config.patience:
            log.info("early stop after epoch %d (best %d)", epoch + 1, best_epoch)
            break
    if best_state is None:
        raise TrainingError("training produced no finite validation loss")
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    result = TrainResult(model, norm, history, best_epoch, time.monotonic() - started)
    if checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(
            model,
            checkpoint,
            {
                "window": asdict(window),
                "train": asdict(config),
                "history": history,
                "best_epoch": best_epoch,
                "seconds": result.seconds,
                **(extra or {}),
            },
        )
    return result


@torch.no_grad()
def _validate(model: FaultPredictor, val: WindowBatches, losses: Losses, amp: bool) -> tuple[float, float]:
    model.eval()
    total, fails = 0.0, []
    device_type = val.rows.device.type
    for start in range(0, len(val), 1024):
        index = torch.arange(start, min(start + 1024, len(val)), device=val.rows.device)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
            outputs = model(val.windows(index))
        loss = losses(outputs, val.fail[index], val.fault[index], val.rul[index], val.weight[index])
        total += float(loss) * index.numel()
        fails.append(torch.sigmoid(outputs[0].float()).cpu().numpy())
    prob = np.concatenate(fails)
    truth = val.fail.cpu().numpy() > 0.5
    f1 = binary_metrics(truth, prob >= best_f1_threshold(truth, prob))["f1"]
    return total / len(val), f1
