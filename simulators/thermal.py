"""First-order thermal model of a machine: heat from losses, cooling to ambient, one time constant.

    C dT/dt = P_loss - (T - T_amb) / R        tau = R C,  T_ss = T_amb + R P_loss

With the loss and the ambient held over a step ``dt`` the exact discrete solution is

    T[k+1] = T_ss + (T[k] - T_ss) exp(-dt / tau)

so the model is exact at any step size (no Euler error), and after a step in heat the temperature
covers 1 - 1/e (63.2 %) of the way to the new steady state in one time constant.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def steady_state_c(
    ambient_c: FloatArray | float, loss_w: FloatArray, resistance_k_per_w: FloatArray
) -> FloatArray:
    """Temperature the machine settles at for a constant loss: ambient plus R times the loss."""
    return np.asarray(ambient_c) + resistance_k_per_w * loss_w


def thermal_step(temp_c: FloatArray, steady_c: FloatArray, tau_s: FloatArray, dt_s: float) -> FloatArray:
    """One exact step of the first-order model (inputs held over the step)."""
    return steady_c + (temp_c - steady_c) * np.exp(-dt_s / tau_s)


def simulate_thermal(temp0_c: FloatArray, steady_c: FloatArray, tau_s: FloatArray, dt_s: float) -> FloatArray:
    """Temperatures ``[T, N]`` after each step, from ``temp0_c`` ``[N]`` and per-step inputs ``[T, N]``."""
    decay = np.exp(-dt_s / tau_s)
    out = np.empty_like(steady_c)
    temp = np.asarray(temp0_c, dtype=np.float64)
    for k in range(steady_c.shape[0]):
        temp = steady_c[k] + (temp - steady_c[k]) * decay[k]
        out[k] = temp
    return out


def thermal_resistance(rise_c: FloatArray, rated_loss_w: FloatArray) -> FloatArray:
    """Thermal resistance (K/W) that gives the rated temperature rise at the rated loss."""
    return rise_c / np.maximum(rated_loss_w, 1e-9)
