"""Composition root of the system: the `iiot` command, the demo and the scenario harness.

Only this package (and tests) may import edge, cloud, simulators and models together.
"""

from __future__ import annotations

__version__ = "0.1.0"
