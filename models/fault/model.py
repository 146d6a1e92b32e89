"""The fault predictor: an LSTM over a window of feature rows, attention pooling, three heads.

Input ``[batch, time, channels]`` of feature rows standardized with the manifest's mean and std
(``models.fault.features``). ``InputTransform`` first turns the channels that scale with machine
size into standardized log10 magnitudes (inside the graph, so the edge only standardizes). The LSTM
encodes every step; additive attention (Bahdanau) scores each step, and the softmax-weighted sum of
the step encodings, concatenated with the last step's encoding, feeds a small trunk and three heads:

* ``fail_logit`` — the machine fails within the horizon;
* ``fault_logits`` — fault class, including "none";
* ``rul`` — remaining useful life as a share of the cap (sigmoid, 0..1).

``EdgeOutputs`` wraps the model for export: probabilities, class probabilities and RUL in seconds,
the values the edge publishes. The normalization statistics travel with the weights (buffers) and
are written into the manifest; the edge normalizes before calling the ONNX model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Sizes of the network."""

    n_features: int
    n_classes: int
    hidden: int = 48
    layers: int = 1
    attention: int = 32
    dropout: float = 0.1
    rul_cap_s: float = 48 * 3600.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints."""
        return asdict(self)


class InputTransform(nn.Module):
    """Standardized raw channels → standardized log10 magnitudes where a channel has a log floor."""

    feature_mean: Tensor
    feature_std: Tensor
    log_floor: Tensor
    log_mean: Tensor
    log_std: Tensor
    is_log: Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        for name, value in (
            ("feature_mean", 0.0),
            ("feature_std", 1.0),
            ("log_floor", 1.0),
            ("log_mean", 0.0),
            ("log_std", 1.0),
            ("is_log", 0.0),
        ):
            self.register_buffer(name, torch.full((n_features,), value))

    def forward(self, x: Tensor) -> Tensor:
        """Same shape as ``x``; linear channels pass through unchanged."""
        raw = x * self.feature_std + self.feature_mean
        logged = (torch.log10(torch.clamp(raw, min=0.0) + self.log_floor) - self.log_mean) / self.log_std
        return self.is_log * logged + (1.0 - self.is_log) * x

    def set_statistics(
        self, mean: Tensor, std: Tensor, log_floor: Tensor, log_mean: Tensor, log_std: Tensor
    ) -> None:
        """Manifest statistics, per-channel log floors (0: linear) and the log view's statistics."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)
        self.is_log.copy_((log_floor > 0).float())
        self.log_floor.copy_(torch.where(log_floor > 0, log_floor, torch.ones_like(log_floor)))
        self.log_mean.copy_(log_mean)
        self.log_std.copy_(log_std)


class AttentionPool(nn.Module):
    """Additive attention over time: ``softmax(v·tanh(W h_t))`` weights, weighted sum of ``h_t``."""

    def __init__(self, hidden: int, attention: int) -> None:
        super().__init__()
        self.project = nn.Linear(hidden, attention)
        self.score = nn.Linear(attention, 1, bias=False)

    def forward(self, encoded: Tensor) -> tuple[Tensor, Tensor]:
        """Pooled ``[B, H]`` and the weights ``[B, T]``."""
        weights = torch.softmax(self.score(torch.tanh(self.project(encoded))).squeeze(-1), dim=1)
        return torch.bmm(weights.unsqueeze(1), encoded).squeeze(1), weights


class FaultPredictor(nn.Module):
    """LSTM + attention pooling + fail / fault-type / RUL heads."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.transform = InputTransform(config.n_features)
        self.lstm = nn.LSTM(
            config.n_features,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.pool = AttentionPool(config.hidden, config.attention)
        self.trunk = nn.Sequential(
            nn.Linear(2 * config.hidden, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)
        )
        self.fail_head = nn.Linear(config.hidden, 1)
        self.fault_head = nn.Linear(config.hidden, config.n_classes)
        self.rul_head = nn.Linear(config.hidden, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Fail logit ``[B]``, fault logits ``[B, K]``, RUL share of the cap ``[B]`` (0..1)."""
        encoded, _ = self.lstm(self.transform(x))
        pooled, _ = self.pool(encoded)
        z = self.trunk(torch.cat([pooled, encoded[:, -1]], dim=1))
        return self.fail_head(z).squeeze(-1), self.fault_head(z), torch.sigmoid(self.rul_head(z)).squeeze(-1)

    def normalization(self) -> tuple[Tensor, Tensor]:
        """The per-channel mean and std the input was standardized with (the manifest's)."""
        return self.transform.feature_mean, self.transform.feature_std


class EdgeOutputs(nn.Module):
    """What the ONNX file computes: fail probability, fault class probabilities, RUL seconds."""

    OUTPUT_NAMES = ("fail_prob", "fault_probs", "rul_s")

    def __init__(self, model: FaultPredictor) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``[B]``, ``[B, K]``, ``[B]`` from normalized windows ``[B, T, C]``."""
        fail_logit, fault_logits, rul = self.model(x)
        return (
            torch.sigmoid(fail_logit),
            torch.softmax(fault_logits, dim=1),
            rul * self.model.config.rul_cap_s,
        )


def save_checkpoint(model: FaultPredictor, path: Any, extra: dict[str, Any]) -> None:
    """Weights, sizes and whatever training wants to remember (window config, thresholds, history)."""
    torch.save({"config": model.config.to_dict(), "state": model.state_dict(), **extra}, path)


def load_checkpoint(path: Any) -> tuple[FaultPredictor, dict[str, Any]]:
    """The model in eval mode and the checkpoint's other entries."""
    data = torch.load(path, map_location="cpu", weights_only=False)
    model = FaultPredictor(ModelConfig(**data.pop("config")))
    model.load_state_dict(data.pop("state"))
    model.eval()
    return model, data
