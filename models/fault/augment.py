"""Training-time augmentation: make each window look as if it came from another machine of its kind.

Machines differ in size, speed, load and thermal behaviour, so the level of a channel says little
about health on its own; the changes do. Each training window gets, per channel, a random gain on the
channels the model sees as log magnitudes (``10**N(0, log_sigma)``: a bigger or smaller machine) and a
random offset on the temperature (``N(0, temp_sigma_c)``: another ambient or rated rise), constant
over the window. Channels the machine lacks (all zero after standardization) stay untouched. Works
on standardized batches, the way the model receives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.fault.features import FEATURE_NAMES, LOG_FLOORS

TEMPERATURE = FEATURE_NAMES.index("temperature_c")


@dataclass(frozen=True, slots=True)
class Augmentation:
    """Spread of the per-window gains (log10 units) and temperature offsets (degrees C)."""

    log_sigma: float = 0.0
    temp_sigma_c: float = 0.0

    @property
    def active(self) -> bool:
        """Whether this augmentation changes anything."""
        return self.log_sigma > 0 or self.temp_sigma_c > 0

    def __call__(self, x: Tensor, mean: Tensor, std: Tensor, generator: torch.Generator) -> Tensor:
        """Augmented copy of standardized windows ``[B, T, C]``."""
        if not self.active:
            return x
        batch, _, channels = x.shape
        present = (x != 0).any(dim=1, keepdim=True)
        raw = x * std + mean
        is_log = torch.from_numpy(LOG_FLOORS > 0).to(x.device)
        gain = torch.pow(10.0, self.log_sigma * torch.randn(batch, 1, channels, generator=generator))
        offset = torch.zeros(batch, 1, channels)
        offset[:, :, TEMPERATURE] = self.temp_sigma_c * torch.randn(batch, 1, generator=generator)
        moved = torch.where(is_log, raw * gain.to(x.device), raw + offset.to(x.device))
        return torch.where(present, (moved - mean) / std, x)
