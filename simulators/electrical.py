"""Motor current and losses of an induction motor drive, from load, speed and winding damage.

Current follows the magnetizing (no-load) part plus a part proportional to the mechanical load:
I = I_r (0.35 + 0.65 L) while running, with an inrush during start-up that decays as the speed comes
up. A winding (inter-turn) fault adds circulating current and copper loss in proportion to its severity.
Losses split into constant iron/friction losses and copper losses growing with the square of the load.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

NO_LOAD_FRACTION = 0.35
INRUSH_FACTOR = 4.0
WINDING_CURRENT = 0.3
WINDING_LOSS = 0.6


def motor_current_a(
    rated_current_a: FloatArray,
    load: FloatArray,
    speed_fraction: FloatArray,
    starting: FloatArray | NDArray[np.bool_],
    winding: FloatArray,
) -> FloatArray:
    """Line current in A per sample; zero when the motor stands still."""
    running = speed_fraction > 0.0
    base = NO_LOAD_FRACTION + (1.0 - NO_LOAD_FRACTION) * load
    inrush = 1.0 + INRUSH_FACTOR * starting * (1.0 - speed_fraction)
    current = rated_current_a * base * inrush * (1.0 + WINDING_CURRENT * winding)
    return np.where(running, current, 0.0)


def motor_loss_w(
    rated_power_w: FloatArray,
    efficiency: FloatArray,
    load: FloatArray,
    speed_fraction: FloatArray,
    winding: FloatArray,
) -> FloatArray:
    """Heat generated in the motor in W: constant plus load-squared losses, plus winding-fault loss."""
    rated_loss = rated_power_w * (1.0 / efficiency - 1.0)
    running = speed_fraction > 0.0
    loss = rated_loss * (0.3 * speed_fraction + 0.7 * load**2) * (1.0 + WINDING_LOSS * winding)
    return np.where(running, loss, 0.0)
