"""Load test of the dashboard's JSON API: N concurrent keep-alive clients on loopback, req/s and latency.

The server runs in a child process exactly as ``iiot cloud dashboard`` serves it (uvicorn, httptools
and uvloop when installed, one process) over a seeded SQLite store; the client is plain asyncio
sockets (HTTP/1.1 keep-alive, bearer API token), so the client costs little next to the server.
Each client cycles through the alerts and machine-state endpoints. While it runs, alert revisions
are written to the store (``--churn`` per second) so that cached answers really get invalidated.

Closed loop (every client sends its next request as soon as the answer arrives) measures the most
the server can do; ``--rate`` paces the clients (open loop) at a total request rate instead:

    .venv/bin/python bench/dashboard_load.py --clients 200 --duration 15
    .venv/bin/python bench/dashboard_load.py --clients 200 --duration 15 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = (
    "/api/v1/alerts?state=active",
    "/api/v1/alerts",
    "/api/v1/machines",
    "/api/v1/machines/{machine}",
)
T0 = 1_700_000_000_000


# ----------------------------------------------------------------------------- server side


def seed(path: Path, machines: int, samples: int) -> list[str]:
    """Telemetry, predictions and open alerts for ``machines`` machines; returns their ids."""
    from cloud.processing.records import Alert, AlertState, PredictionPoint, Severity, TelemetryPoint
    from cloud.storage.sqlite import SqliteStorage

    ids = [f"m{i:03d}" for i in range(machines)]
    with SqliteStorage(path) as storage:
        for n, machine in enumerate(ids):
            records: list[object] = []
            for i in range(samples):
                ts = T0 + i * 10_000
                for metric, value in (
                    ("temperature", 50 + i % 7),
                    ("vibration", 2 + (i % 5) / 10),
                    ("current", 24.0),
                ):
                    records.append(TelemetryPoint(machine, metric, ts, float(value), f"edge{n % 4}", "plant"))
                records.append(
                    PredictionPoint(
                        machine,
                        ts,
                        (i % 100) / 100,
                        "bearing",
                        3600.0,
                        "lstm",
                        "1",
                        f"edge{n % 4}",
                        "plant",
                        f"L{n % 3}",
                    )
                )
            if n % 4 == 0:
                severity = Severity.CRITICAL if n % 8 == 0 else Severity.WARNING
                records.append(
                    Alert(
                        f"a{n:03d}",
                        f"machine/{machine}",
                        "prediction",
                        severity,
                        AlertState.ACTIVE,
                        T0,
                        T0,
                        T0,
                    )
                )
            storage.write(records)  # type: ignore[arg-type]
    return ids


def serve(workdir: Path, port: int) -> None:
    """Child process: the dashboard over the seeded store (storage link), until killed."""
    from cloud.dashboard.server import build, run
    from cloud.dashboard.server import serve as serve_dashboard
    from cloud.dashboard.settings import DashboardSettings

    settings = DashboardSettings(
        dashboard_storage_url=f"sqlite:///{workdir / 'cloud.db'}",
        dashboard_link="storage",
        dashboard_users_file=str(workdir / "users.json"),
        dashboard_secret_file=str(workdir / "secret"),
    )

    async def main() -> None:
        await serve_dashboard(build(settings), "127.0.0.1", port, asyncio.Event())

    run(main)


# ----------------------------------------------------------------------------- client side


@dataclass
class Tally:
    """Latencies (s) per endpoint and error count."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def client(
    port: int,
    token: str,
    machines: list[str],
    deadline: float,
    budget: list[int],
    interval: float,
    tally: Tally,
    rng: random.Random,
) -> None:
    """One keep-alive connection cycling through the endpoints until the deadline or the request budget."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    step = rng.randrange(len(ENDPOINTS))
    next_at = time.perf_counter() + rng.random() * interval
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            if interval:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            name = ENDPOINTS[step % len(ENDPOINTS)]
            step += 1
            path = name.format(machine=rng.choice(machines))
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            )
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            tally.latencies.setdefault(name, []).append(time.perf_counter() - start)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if status != 200:
                tally.errors += 1
    except (OSError, asyncio.IncompleteReadError):
        tally.errors += 1
    finally:
        writer.close()


async def churn(db: Path, per_s: float, deadline: float) -> int:
    """Write alert revisions while the load runs, so the server's caches are invalidated."""
    if per_s <= 0:
        return 0
    from cloud.storage.sqlite import SqliteStorage

    written = 0
    with SqliteStorage(db) as storage:
        alerts = storage.alerts(open_only=True)
        while time.perf_counter() < deadline and alerts:
            await asyncio.sleep(1 / per_s)
            alert = alerts[written % len(alerts)]
            bumped = replace(
                alert,
                revision=alert.revision + 1 + written,
                count=alert.count + 1 + written,
                updated_ms=alert.updated_ms + written + 1,
            )
            await asyncio.to_thread(storage.write, [bumped])
            written += 1
    return written


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")


async def load(
    args: argparse.Namespace, port: int, token: str, machines: list[str], db: Path, server_pid: int
) -> dict[str, object]:
    """Run the clients; return the figures."""
    tally = Tally()
    rng = random.Random(args.seed)
    interval = args.clients / args.rate if args.rate else 0.0
    warm_deadline = time.perf_counter() + 1.0
    await asyncio.gather(
        *(client(port, token, machines, warm_deadline, [10**9], 0.05, Tally(), rng) for _ in range(10))
    )
    start = time.perf_counter()
    cpu_before, client_before = cpu_seconds(server_pid), time.process_time()
    deadline = start + args.duration
    budget = [args.max_requests]
    churn_task = asyncio.create_task(churn(db, args.churn, deadline))
    await asyncio.gather(
        *(client(port, token, machines, deadline, budget, interval, tally, rng) for _ in range(args.clients))
    )
    elapsed = time.perf_counter() - start
    server_cpu, client_cpu = cpu_seconds(server_pid) - cpu_before, time.process_time() - client_before
    churned = await churn_task
    everything = [x for v in tally.latencies.values() for x in v]
    return {
        "clients": args.clients,
        "mode": f"open loop at {args.rate} req/s" if args.rate else "closed loop",
        "duration_s": round(elapsed, 2),
        "requests": len(everything),
        "errors": tally.errors,
        "statuses": tally.statuses,
        "req_per_s": round(len(everything) / elapsed, 1),
        "p50_ms": round(percentile(everything, 0.50) * 1000, 2),
        "p90_ms": round(percentile(everything, 0.90) * 1000, 2),
        "p99_ms": round(percentile(everything, 0.99) * 1000, 2),
        "max_ms": round(max(everything, default=float("nan")) * 1000, 2),
        "alert_revisions_written": churned,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(len(everything), 1), 3),
        "client_cpu_s": round(client_cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "per_endpoint_p99_ms": {
            k: round(percentile(v, 0.99) * 1000, 2) for k, v in sorted(tally.latencies.items())
        },
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, timeout_s: float = 60.0) -> None:
    """Until the server answers its health endpoint."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the dashboard did not come up")


def main() -> None:
    """Seed, start the server, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load (at most 120)")
    parser.add_argument("--max-requests", type=int, default=500_000, help="stop after this many requests")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="total requests/s (open loop); 0 = closed loop"
    )
    parser.add_argument("--churn", type=float, default=2.0, help="alert revisions written per second")
    parser.add_argument("--machines", type=int, default=40)
    parser.add_argument("--samples", type=int, default=360, help="history per machine (10 s apart)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve), args.port)
        return
    args.duration = min(args.duration, 120.0)

    from cloud.dashboard.users import UserStore

    with tempfile.TemporaryDirectory(prefix="dashboard-load-") as tmp:
        workdir = Path(tmp)
        machines = seed(workdir / "cloud.db", args.machines, args.samples)
        users = UserStore(workdir / "users.json")
        token = users.new_token("bench")
        users.save()
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(workdir), "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            wait_ready(port)
            figures = asyncio.run(load(args, port, token, machines, workdir / "cloud.db", server.pid))
        finally:
            server.terminate()
            server.wait(10)
    figures["machine"] = f"{platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
