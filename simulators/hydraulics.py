"""Centrifugal pump on a pipe system: operating point from the pump and system curves, and clogging.

Pump curve (affinity laws, s = speed / rated speed):   H = H0 s² - k_p Q²
System curve (static head plus friction):             H = H_st + k_s (1 + CLOG_RESISTANCE c) Q²

with H0 = 1.33 H_r, k_p = 0.33 H_r / Q_r², H_st = 0.4 H_r, k_s = 0.6 H_r / Q_r², so at rated speed
and no clogging the pump runs at its rated point (Q_r, H_r). Clogging c in 0..1 (a fouled strainer and
impeller) raises the system resistance, so flow falls and head (pressure) rises, and it lowers the
hydraulic efficiency, η = η_r / (1 + CLOG_EFFICIENCY c), so shaft power and motor current rise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

WATER_RHO_G = 1000.0 * 9.81
SHUTOFF_HEAD = 1.33
PUMP_CURVE = 0.33
STATIC_HEAD = 0.4
SYSTEM_FRICTION = 0.6
CLOG_RESISTANCE = 6.0
CLOG_EFFICIENCY = 2.0


@dataclass(frozen=True, slots=True)
class PumpPoint:
    """Operating point per sample: flow, head, discharge pressure and shaft power relative to rated."""

    flow_m3h: FloatArray
    head_m: FloatArray
    pressure_bar: FloatArray
    power_ratio: FloatArray


def pump_operating_point(
    speed_ratio: FloatArray,
    clogging: FloatArray,
    rated_flow_m3h: FloatArray | float,
    rated_head_m: FloatArray | float,
) -> PumpPoint:
    """Intersect pump and system curves for every sample (arrays broadcast together)."""
    s2 = np.square(np.clip(speed_ratio, 0.0, None))
    lift = np.maximum(SHUTOFF_HEAD * s2 - STATIC_HEAD, 0.0)
    resistance = SYSTEM_FRICTION * (1.0 + CLOG_RESISTANCE * clogging)
    q_rel = np.sqrt(lift / (PUMP_CURVE + resistance))
    h_rel = np.where(lift > 0, STATIC_HEAD + resistance * q_rel**2, SHUTOFF_HEAD * s2)
    efficiency_loss = 1.0 + CLOG_EFFICIENCY * clogging
    power_ratio = q_rel * h_rel * efficiency_loss + 0.05 * s2 * np.sqrt(s2)
    head = h_rel * rated_head_m
    return PumpPoint(
        flow_m3h=q_rel * rated_flow_m3h,
        head_m=head,
        pressure_bar=head * WATER_RHO_G / 1e5,
        power_ratio=power_ratio / 1.05,
    )
