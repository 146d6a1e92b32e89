"""`iiot demo --stack`: the demo against the real stack (Mosquitto, Kafka, InfluxDB)."""

from __future__ import annotations

import asyncio
from typing import Any


async def run_stack_demo(opts: Any, stop: asyncio.Event, started: float, say: Any) -> None:
    """Not finished yet: say so instead of pretending."""
    from iiot.demo import DemoError

    raise DemoError("iiot demo --stack is not available yet")
