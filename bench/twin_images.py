"""Benchmark: camera-twin frames rendered per second on one core (goal: 50/s at 640 x 640).

OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/twin_images.py --n 300
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

from simulators.camera.rig import CameraRig  # noqa: E402

GOAL_PER_S = 50.0


def main() -> None:
    """Render --n frames with a warm rig and print frames per second and the ratio to the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="frames to time")
    parser.add_argument("--size", type=int, default=640, help="frame width and height")
    parser.add_argument(
        "--health", type=float, default=0.3, help="machine health (0..1), sets the defect rate"
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rig = CameraRig("cam-bench", "line-1", "spindle-1", seed=1, width=args.size, height=args.size)
    for _ in range(10):  # warm-up: texture tiles and belts are made on first use
        rig.capture(0, args.health, "bearing_wear", "spindle")
    labels = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    for i in range(args.n):
        labels += len(rig.capture(i * 2000, args.health, "bearing_wear", "spindle").labels)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    rate, cpu_rate = args.n / wall, args.n / cpu
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"frames: {args.n} at {args.size}x{args.size}, defects drawn: {labels}, load average {load:.1f}")
    print(f"wall: {wall:.2f} s -> {rate:.1f} images/s   ratio: {rate / GOAL_PER_S:.2f}x")
    print(f"cpu:  {cpu:.2f} s -> {cpu_rate:.1f} images/s per CPU-s  ratio: {cpu_rate / GOAL_PER_S:.2f}x")
    print(f"goal: {GOAL_PER_S:.0f} images/s on one core (wall = cpu when the core is not shared)")


if __name__ == "__main__":
    main()
