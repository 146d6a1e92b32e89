"""Benchmark of the twin's machine side: sensor samples per second for N machines at 10 Hz.

A "sample" is one machine-timestep with all its channels (temperature, current, speed, seven
vibration features, and pressure and flow on pumps), including physics, fault labels, vibration
snippets (one per machine every ``vibration_period_s``) and the sensor layer. Run on one thread:

    OMP_NUM_THREADS=1 .venv/bin/python bench/twin_sensors.py --machines 1000 --sim-s 600
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main() -> None:
    """Run the twin flat out and print samples per second and the ratio to real time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--sim-s", type=float, default=600.0, help="simulated seconds to time")
    parser.add_argument("--block-s", type=float, default=10.0)
    parser.add_argument("--vibration-period-s", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from simulators.plant import generate_plant
    from simulators.twin import Twin

    plant = generate_plant(
        args.machines,
        args.seed,
        hazard_per_day=2.0,
        mean_life_h=2.0,
        vibration_period_s=args.vibration_period_s,
    )
    twin = Twin(plant, args.seed, block_s=args.block_s)
    twin.step_block()  # warm-up: allocations and the first snippets
    present = twin.sensor_table.present
    channels_per_sample = float(present.sum(axis=1).mean())
    steps = 0
    values = 0
    wall = cpu = 0.0
    while steps * twin.dt_s < args.sim_s:
        wall_0, cpu_0 = time.perf_counter(), time.process_time()
        block = twin.step_block()
        wall += time.perf_counter() - wall_0
        cpu += time.process_time() - cpu_0
        steps += block.steps
        values += int(np.isfinite(block.values).sum())  # not timed
    sim = steps * twin.dt_s
    samples = steps * args.machines
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    print(
        f"machines={args.machines} rate={plant.simulation.sample_rate_hz:g} Hz block={args.block_s:g} s "
        f"vibration_period={args.vibration_period_s:g} s sim={sim:.0f} s wall={wall:.2f} s cpu={cpu:.2f} s"
    )
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    for name, seconds in (("wall", wall), ("cpu", cpu)):
        print(
            f"[{name:4}] machine samples/s: {samples / seconds:,.0f}  channel values/s: "
            f"{samples * channels_per_sample / seconds:,.0f} "
            f"(mean {channels_per_sample:.1f} channels/sample)  "
            f"published values/s: {values / seconds:,.0f}  "
            f"speed vs real time: {sim / seconds:.0f}x (goal >= 100x)"
        )


if __name__ == "__main__":
    main()
