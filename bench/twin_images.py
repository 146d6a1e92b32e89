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
    rate = args.n / wall
    print(f"frames: {args.n} at {args.size}x{args.size}, defects drawn: {labels}")
    print(
        f"wall: {wall:.2f} s  cpu: {cpu:.2f} s  -> {rate:.1f} images/s (cpu-time rate {args.n / cpu:.1f}/s)"
    )
    print(f"goal: {GOAL_PER_S:.0f} images/s on one core  ratio: {rate / GOAL_PER_S:.2f}x")


if __name__ == "__main__":
    main()
