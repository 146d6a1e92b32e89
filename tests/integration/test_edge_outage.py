"""Store-and-forward end to end: a 30 s broker outage under load, and a kill -9 of the agent.

The agent reads the twin from the stack's Mosquitto and publishes to a throwaway Mosquitto that
the test stops and starts (the shared stack is never touched). A host collector on the throwaway
broker plays the Sparkplug primary host and records everything. Each sample the twin sent must
arrive with its exact value (duplicates after a crash carry the same value), every detection
event must arrive, and the host's seq tracking must see no gap. Models: tiny ONNX stand-ins
(tests/unit/test_edge_fakes.py) — these tests are about delivery, not accuracy.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from stack_settings import StackSettings
from test_edge_harness import (
    HostCollector,
    Load,
    SparkplugView,
    ThrowawayBroker,
    TwinFeed,
    client_for,
    edge_settings,
    wait_until,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_edge_fakes import build_fault_model, build_grid_detector

from edge.agent import EdgeAgent
from edge.settings import load_settings
from proto.sparkplug import Verdict

MACHINES = ["m1", "m2", "m3"]
CAMERAS = ["cam-1", "cam-2"]
CHANNELS = set(TwinFeed.CHANNELS)


async def eventually(predicate: Callable[[], object], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {within_s:.0f} s waiting for {what}"
        await asyncio.sleep(0.2)


def expected_samples(feed: TwinFeed, view: SparkplugView) -> dict[tuple[str, str, int], float]:
    """Samples sent from the first one the agent delivered on (earlier ones preceded its subscription)."""
    delivered = [ts for (machine, _, ts) in view.samples if machine in MACHINES]
    if not delivered:
        return dict(feed.sent)
    first = min(delivered)
    return {key: value for key, value in feed.sent.items() if key[2] >= first}


def missing(feed: TwinFeed, host: HostCollector) -> int:
    view = SparkplugView.of(host.snapshot(), CHANNELS)
    expected = expected_samples(feed, view)
    return sum(1 for key in expected if key not in view.samples)


def check_delivery(feed: TwinFeed, view: SparkplugView) -> tuple[int, int]:
    """Every expected sample arrived with its exact value; (samples, historical ones)."""
    expected = expected_samples(feed, view)
    assert len(expected) > 500
    lost = [key for key in expected if key not in view.samples]
    assert not lost, f"{len(lost)} samples lost, e.g. {lost[:3]}"
    wrong = [
        (key, view.samples[key])
        for key, value in expected.items()
        if {v for v, _ in view.samples[key]} != {value}
    ]
    assert not wrong, f"samples changed on the way: {wrong[:3]}"
    assert Verdict.GAP not in view.verdicts
    assert Verdict.INVALID not in view.verdicts
    historical = sum(1 for key in expected if any(h for _, h in view.samples[key]))
    return len(expected), historical


def forget_session(stack: StackSettings, client_id: str) -> None:
    """Remove the agent's persistent twin session from the shared broker (connect clean, leave)."""
    client = client_for(stack, "edge", client_id)
    client.connect("127.0.0.1", stack.mqtt_port)
    client.disconnect()


@pytest.fixture
def models(tmp_path: Path) -> tuple[Path, Path]:
    return (
        build_fault_model(tmp_path / "fault", window=8, stride=4),
        build_grid_detector(tmp_path / "detector", size=128),
    )


async def test_broker_outage_of_30_s_under_load_loses_nothing(
    stack: StackSettings, tmp_path: Path, models: tuple[Path, Path]
) -> None:
    tag = uuid.uuid4().hex[:6]
    group, site, host_id = f"it{tag}", f"site-{tag}", f"host-{tag}"
    broker = ThrowawayBroker(stack, tmp_path / "broker")
    broker.start()
    host = HostCollector(stack, broker.port, group, host_id).start()
    raw = edge_settings(
        stack,
        tmp_path,
        broker_port=broker.port,
        group=group,
        site=site,
        host_id=host_id,
        fault_manifest=models[0],
        detector_manifest=models[1],
    )
    feed = TwinFeed(stack, site, "line-1", MACHINES, CAMERAS)
    try:
        async with EdgeAgent(load_settings(None, **raw)) as agent:
            await eventually(lambda: agent.publisher is not None and agent.publisher.online, 30, "births")
            await eventually(
                lambda: all(getattr(s, "connected", True) for s in agent.sources), 30, "twin feeds"
            )
            await asyncio.sleep(1.0)  # subscriptions settle
            with Load(feed, period_s=0.5):
                await asyncio.sleep(5)
                await asyncio.to_thread(broker.stop)
                outage_started = time.monotonic()
                await asyncio.sleep(30)
                await eventually(
                    lambda: agent.outbox is not None and agent.outbox.total.messages > 100, 5, "stored"
                )
                stored_during_outage = agent.outbox.total.messages if agent.outbox else 0
                await asyncio.to_thread(broker.start)
                outage_s = time.monotonic() - outage_started
                await asyncio.sleep(5)
            await eventually(lambda: missing(feed, host) == 0, 120, "every sample after the outage")
            await eventually(
                lambda: len(SparkplugView.of(host.snapshot(), CHANNELS).events) >= len(feed.frames),
                60,
                "every detection event",
            )
            dropped = sum(agent.mailbox.dropped.values())
            assert agent.publisher is not None
            assert await agent.publisher.drain(30)
    finally:
        feed.close()
        host.stop()
        broker.stop()
        forget_session(stack, f"{group}-edge-it-twin-sensors")
    view = SparkplugView.of(host.snapshot(), CHANNELS)
    samples, historical = check_delivery(feed, view)
    assert outage_s >= 30
    assert stored_during_outage > 100
    assert historical > 0  # the outage's samples came back flagged historical
    assert len(view.births) >= 2  # a new session after the outage...
    assert view.births == sorted(view.births)  # ...with the next bdSeq
    assert dropped == 0
    assert set(feed.frames) <= set(view.events)  # every frame's event, after the outage too
    for duplicates in view.events.values():
        assert all(e == duplicates[0] for e in duplicates)
    assert any(name == "prediction/fault_probability" for _, name in view.metrics)
    print(f"outage {outage_s:.0f} s: {samples} samples, {historical} replayed, {len(view.events)} events")


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`iiot edge run --config config` as a child process."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from iiot.cli import main; main()",
                "edge",
                "run",
                "--config",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def births(host: HostCollector) -> int:
    return sum(1 for m in host.snapshot() if "/NBIRTH/" in m.topic)


def test_kill_9_of_the_agent_loses_nothing(
    stack: StackSettings, tmp_path: Path, models: tuple[Path, Path]
) -> None:
    tag = uuid.uuid4().hex[:6]
    group, site, host_id = f"it{tag}", f"site-{tag}", f"host-{tag}"
    broker = ThrowawayBroker(stack, tmp_path / "broker")
    broker.start()
    host = HostCollector(stack, broker.port, group, host_id).start()
    config = tmp_path / "edge.yaml"
    raw = edge_settings(
        stack,
        tmp_path,
        broker_port=broker.port,
        group=group,
        site=site,
        host_id=host_id,
        fault_manifest=models[0],
        detector_manifest=models[1],
    )
    config.write_text(yaml.safe_dump(raw))
    log = tmp_path / "agent.log"
    feed = TwinFeed(stack, site, "line-1", MACHINES, CAMERAS)
    agent = start_agent(config, log)
    try:
        wait_until(lambda: births(host) >= 1, 60, f"the agent's first NBIRTH (log: {log})")
        time.sleep(2.0)  # its twin feeds subscribe
        with Load(feed, period_s=0.5):
            time.sleep(6)
            agent.kill()  # SIGKILL: no NDEATH from the agent, the broker sends its will
            agent.wait(10)
            killed_at = time.monotonic()
            time.sleep(5)
            agent = start_agent(config, log)
            wait_until(lambda: births(host) >= 2, 60, "the restarted agent's NBIRTH")
            restarted_at = time.monotonic()
            time.sleep(6)
        wait_until(lambda: missing(feed, host) == 0, 120, "every sample after the restart")
        agent.terminate()  # SIGTERM: a clean stop with NDEATH
        agent.wait(30)
    finally:
        if agent.poll() is None:
            agent.kill()
        feed.close()
        host.stop()
        broker.stop()
        forget_session(stack, f"{group}-edge-it-twin-sensors")
    view = SparkplugView.of(host.snapshot(), CHANNELS)
    check_delivery(feed, view)
    assert view.births[:2] == [0, 1]  # bdSeq survived the kill (kept in the outbox database)
    assert any("/NDEATH/" in m.topic for m in host.snapshot())
    # Frames are a live feed: those inside the agent when it died are gone by design. Every frame
    # sent while an agent was running (away from the kill and the restart) has its event.
    settled = {
        key for key, sent in feed.frames.items() if sent < killed_at - 2.0 or sent > restarted_at + 2.0
    }
    assert settled
    assert settled <= set(view.events), sorted(settled - set(view.events))[:5]
    for duplicates in view.events.values():
        assert all(e == duplicates[0] for e in duplicates)
