"""Throughput of the shared processing core by batch size (no broker): `python -m bench.cloud_processing`.

Batching is the lever: each batch costs one state load/store and one storage write per key, so the
per-record cost falls as batches grow. This measures the pure part that both hosts run.
"""

from __future__ import annotations

import argparse
import time

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.normalize import Normalizer
from cloud.pipeline import Inbound, PipelineCore, group_by_key
from cloud.processing.processor import KeyState, Processor
from cloud.processing.state_codec import key_state_from_json, key_state_to_json

T0 = 1_700_000_000_000


def records(machines: int, samples: int) -> list[Inbound]:
    """Normalized records of ``machines`` devices on one edge node, ``samples`` DDATA each."""
    devices = {f"m{i}": {"temperature": 20.0, "vibration": 2.0, "current": 10.0} for i in range(machines)}
    node = EdgeNodeScript("bench", "edge1", devices)
    normalizer = Normalizer()
    messages = list(node.birth(T0))
    for step in range(samples):
        for device in devices:
            values = {"temperature": 60.0 + step % 7, "vibration": 2.0 + step % 3 / 10, "current": 10.0}
            messages.append(node.data(device, values, T0 + step * 100))
    out = [r for topic, payload in messages for r in normalizer.handle(topic, payload, T0).records]
    return [Inbound(r.topic, r.key, r.value, i, r.headers) for i, r in enumerate(out)]


def run(inbound: list[Inbound], batch: int) -> float:
    """Records per second through PipelineCore, with the state round trip a Faust table would do."""
    core = PipelineCore(Processor())
    stored: dict[str, bytes] = {}
    start = time.perf_counter()
    for first in range(0, len(inbound), batch):
        for key, items in group_by_key(inbound[first : first + batch]).items():
            state = key_state_from_json(stored[key]) if key in stored else KeyState()
            new, _ = core.apply(key, state, items)
            stored[key] = key_state_to_json(new)
    return len(inbound) / (time.perf_counter() - start)


def main() -> None:
    """Print records/s for a few batch sizes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    inbound = records(args.machines, args.samples)
    print(f"{len(inbound)} records (telemetry batches of 3 metrics) from {args.machines} machines")
    for batch in (1, 10, 100, 1000):
        print(f"batch {batch:>5}: {run(inbound, batch):>10,.0f} records/s")


if __name__ == "__main__":
    main()
