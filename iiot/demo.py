"""`iiot demo`: the whole system on one machine, embedded defaults, nothing to install.

    twin thread ──MQTT──▶ embedded broker (thread) ──▶ edge agents ──Sparkplug B──▶ broker
                                                                                     │
    terminal view ◀── dashboard (uvicorn) ◀── memory link ◀── embedded runner ◀──────┘
                                                                  │
                                                               SQLite

Everything async shares one event loop (edge agents, the runner's MQTT loop, the dashboard, the
view); the twin and the broker have their own threads. The modules beside this one:

* ``demo_plan``: what the twin plays and how fast, the alert settings in event time (pure);
* ``demo_twin``: the twin's thread, its warm-up and pacing, the ground truth for the view;
* ``demo_setup``: options, shipped models, data folder, ports, logging;
* ``demo_parts``: edge agents, dashboard serving, ordered shutdown, the view's data;
* ``demo_embedded`` / ``demo_stack``: the two ways to run the cloud side;
* ``demo_view``: the terminal view.

This module owns the command line and the loop that watches alerts and draws the view. SIGINT and
SIGTERM stop everything in order (twin, agents, cloud side, dashboard, broker); the exit status is 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from iiot.demo_plan import DemoPlan
from iiot.demo_setup import (
    ARTIFACTS,
    DB_NAME,
    DEFAULT_SPEED,
    DEMO_PASSWORD,
    DEMO_USER,
    FIRST_ALERT_PROMISE_S,
    Artifact,
    DemoError,
    DemoOptions,
    Say,
    default_data_dir,
    demo_logging,
    fresh_data_dir,
)

__all__ = [
    "DB_NAME",
    "DEMO_PASSWORD",
    "DEMO_USER",
    "FIRST_ALERT_PROMISE_S",
    "DemoError",
    "command",
    "run_demo",
]

Starter = Callable[[DemoPlan, Artifact, Artifact, int, Any, asyncio.Event], Awaitable[None]]


async def run_demo(opts: DemoOptions, stop: asyncio.Event, started: float, say: Say) -> None:
    """Run the demo until ``stop`` (or ``duration_s``); DemoError if it cannot run."""
    from iiot.demo_parts import Components, failure, shutdown, trace, view_state
    from iiot.demo_plan import plan_demo
    from iiot.demo_setup import find_artifact, model_timing, pick_port, quiet_console
    from iiot.demo_view import TerminalView, status_line
    from simulators.plant import load_plant
    from simulators.scenario import load_scenario

    detector = find_artifact("detector", opts.models / "detector")
    fault = find_artifact("fault", opts.models / "fault")
    timing = model_timing(fault.manifest) if fault.manifest is not None else None
    plan = plan_demo(
        load_plant("demo"),
        load_scenario("demo_faults"),
        speed=opts.speed,
        now_ms=int(time.time()) * 1000,
        timing=timing,
    )
    start: Starter
    if opts.stack:
        from iiot.demo_stack import connect_stack, for_stack, start_stack

        target = await asyncio.to_thread(connect_stack, opts)
        plan = for_stack(plan, target)
        data = target.data_location
        title = (
            "twin, edge agents (this process); Mosquitto, bridge, Faust worker, Kafka, InfluxDB (the stack)"
        )

        async def start(*args: Any) -> None:
            await start_stack(opts, target, *args)

    else:
        from iiot.demo_embedded import start_embedded

        data = str((opts.data_dir / DB_NAME).resolve())
        title = "twin, embedded MQTT broker, edge agents, embedded runner, SQLite, dashboard: one process"

        async def start(*args: Any) -> None:
            await start_embedded(opts, *args)

    port = pick_port(opts.host, opts.port)
    header = {
        "url": f"http://{opts.host}:{port}/",
        "login": f"{DEMO_USER} / {DEMO_PASSWORD}",
        "data": data,
        "fault": f"fault: {fault.label}" if fault.manifest else "fault: OFF (missing model)",
        "detector": f"detector: {detector.label}" if detector.manifest else "detector: OFF (missing model)",
    }
    _banner(say, title, opts, plan, header, detector, fault)
    parts = Components()
    view = TerminalView() if opts.view and sys.stdout.isatty() else None
    periodic = opts.view and view is None
    first_alert_s: float | None = None
    seen_alerts: set[str] = set()
    notes: list[str] = []
    next_status = 0.0
    try:
        await start(plan, detector, fault, port, parts, stop)
        say(f"running: the dashboard is at {header['url']} (login {header['login']}); Ctrl-C stops the demo")
        deadline = started + opts.duration_s if opts.duration_s else None
        while not stop.is_set():
            problem = failure(parts)
            if problem:
                raise DemoError(problem)
            state = await view_state(parts, plan, started, header, first_alert_s, notes)
            trace(parts, plan)
            for alert in state.alerts:
                key = f"{alert.source}|{alert.raised_ms}|{alert.message}"
                if key in seen_alerts:
                    continue
                seen_alerts.add(key)
                elapsed = time.monotonic() - started
                if first_alert_s is None:
                    first_alert_s = elapsed
                    line = f"first alert after {elapsed:.1f} s: "
                else:
                    line = f"alert after {elapsed:.1f} s: "
                line += f"{alert.severity} {alert.source}: {alert.message}"
                notes.append(line)
                if view is None:
                    say(line)
            if view is not None:
                view.draw(state)
            elif periodic and time.monotonic() >= next_status:
                next_status = time.monotonic() + 10.0
                say(status_line(state))
            if deadline is not None and time.monotonic() >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        if view is not None:
            view.close()
        say("stopping: twin, edge agents, cloud side, dashboard, broker ...")
        quiet_console()
        await shutdown(parts)
    warm = parts.twin.warmup_wall_s if parts.twin else None
    summary = f"stopped after {time.monotonic() - started:.0f} s"
    if warm is not None:
        summary += f"; warm-up took {warm:.0f} s"
    summary += f"; first alert after {first_alert_s:.1f} s" if first_alert_s is not None else "; no alert yet"
    say(f"{summary}. Data kept in {data}")


def _banner(
    say: Say,
    title: str,
    opts: DemoOptions,
    plan: DemoPlan,
    header: dict[str, str],
    detector: Artifact,
    fault: Artifact,
) -> None:
    say(f"iiot demo — {title}")
    say(f"  dashboard  {header['url']}   login {header['login']} (operator)")
    say(f"  data       {header['data']}  (log: {(opts.data_dir / 'demo.log').resolve()})")
    for artifact in (fault, detector):
        if artifact.manifest is not None:
            say(f"  {artifact.pipeline:<9}  {artifact.label}")
        else:
            other = "detector" if artifact.pipeline == "fault" else "fault"
            say(
                f"  {artifact.pipeline:<9}  MISSING: {artifact.problem} — "
                f"the {artifact.pipeline} pipeline is off, the {other} pipeline runs"
            )
    if fault.manifest is None and detector.manifest is None:
        say("  !          neither model is there: the plant runs and reports telemetry, no alert will come")
    if plan.warmup_s:
        say(
            f"  plan       the plant's first {plan.warmup_s / 3600:.1f} h (the fault model's history) "
            f"as fast as this machine allows, then live at {plan.speed:g}× real time"
        )
    else:
        say(f"  plan       live at {plan.speed:g}× real time")
    if plan.first_fault_s is not None:
        start_s = plan.first_fault_s - plan.warmup_s
        when = (
            f"{-start_s / 60:.0f} sim min before the live phase"
            if start_s < 0
            else f"{start_s / plan.speed:.0f} s into the live phase"
        )
        say(
            f"             first fault: spindle-1 bearing wear, {when}; first alert expected within "
            f"{FIRST_ALERT_PROMISE_S} s of start"
        )


def _raise_interrupt(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


@click.command(name="demo")
@click.option(
    "--speed",
    type=click.FloatRange(min=1.0, max=3600.0),
    default=DEFAULT_SPEED,
    show_default=True,
    help="Live phase: sim seconds per wall second.",
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Stop after this many wall seconds (default: until Ctrl-C).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Dashboard port (default 8080, or any free port if 8080 is taken; 0: any free port).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the SQLite database, outboxes and log go (default ~/.local/share/iiot/demo).",
)
@click.option(
    "--no-view", is_flag=True, help="No live terminal view: only the banner, alerts and the summary."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Twin seed.")
@click.option(
    "--models",
    type=click.Path(file_okay=False, path_type=Path),
    default=ARTIFACTS,
    help="Folder with detector/ and fault/ artifacts (ONNX + manifest) [default: models/artifacts].",
)
@click.option(
    "--stack",
    is_flag=True,
    help="Use the real stack (Mosquitto, Kafka, InfluxDB of deploy/local/stack) for broker and cloud side.",
)
def command(
    speed: float,
    duration_s: float | None,
    port: int | None,
    data_dir: Path | None,
    no_view: bool,
    seed: int,
    models: Path,
    stack: bool,
) -> None:
    """The whole system on one machine: twin, broker, edge agents, runner, SQLite, dashboard.

    The first alert arrives within a minute; open the dashboard's address it prints
    and log in as operator / iiot-demo. Ctrl-C stops everything.
    """
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    opts = DemoOptions(
        speed=speed,
        duration_s=duration_s,
        port=port,
        data_dir=data_dir or default_data_dir(),
        view=not no_view,
        seed=seed,
        models=models,
        stack=stack,
    )
    say = Say()
    try:
        fresh_data_dir(opts.data_dir)
        with demo_logging(opts.data_dir / "demo.log", view=opts.view and sys.stdout.isatty()):
            asyncio.run(_main(lambda stop: run_demo(opts, stop, started, say)))
    except KeyboardInterrupt:
        say("stopped.")
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


async def _main(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await body(stop)
