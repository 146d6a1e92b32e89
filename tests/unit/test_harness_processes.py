"""Process control and the stack script adapter, on local stand-ins (no network, no real stack)."""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

import pytest

from iiot.harness.errors import ProcessError, StackControlError
from iiot.harness.launch import Broker, CloudAccess, bridge_env, run_names, worker_env
from iiot.harness.processes import ManagedProcess, ProcessSet, free_port
from iiot.harness.stack_control import StackControl, parse_stack_env, stack_vars, without_iiot_vars

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def test_kill_restart_and_stop(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", SLEEPER, {}, tmp_path / "logs" / "sleeper.log")
    proc.start()
    first = proc.pid
    assert proc.running()
    with pytest.raises(ProcessError, match="already running"):
        proc.start()
    proc.kill()
    assert not proc.running()
    assert proc.unexpected_exit() is None  # the harness asked for it
    proc.restart()
    assert proc.running()
    assert proc.pid != first
    assert proc.stop(timeout_s=5) is not None
    assert [n.what for n in proc.notes] == ["started", "killed", "started", "stopped"]
    assert proc.log_path.read_text().count("==== start") == 2


def test_an_exit_on_its_own_is_reported_once(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "short", [sys.executable, "-c", "print('bye'); raise SystemExit(3)"], {}, tmp_path / "s.log"
    )
    proc.start()
    deadline = time.time() + 20
    while proc.running() and time.time() < deadline:
        time.sleep(0.05)
    assert proc.unexpected_exit() == 3
    assert proc.unexpected_exit() is None
    assert "bye" in proc.log_tail()


def test_sigterm_then_sigkill(tmp_path: Path) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('x', flush=True); time.sleep(60)",
    ]
    proc = ManagedProcess("stubborn", stubborn, {}, tmp_path / "x.log")
    proc.start()
    time.sleep(0.5)
    proc.stop(timeout_s=0.5)
    assert not proc.running()
    assert proc.notes[-1].detail == "SIGKILL after 0.5 s"


def test_a_missing_executable_is_a_process_error(tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match="cannot start"):
        ManagedProcess("nope", [str(tmp_path / "nope")], {}, tmp_path / "n.log").start()


def test_process_set_stops_everything(tmp_path: Path) -> None:
    with ProcessSet(stop_timeout_s=5) as procs:
        a = procs.add(ManagedProcess("agent-a", SLEEPER, {}, tmp_path / "a.log"))
        b = procs.add(ManagedProcess("bridge-1", SLEEPER, {}, tmp_path / "b.log"))
        a.start()
        b.start()
        with pytest.raises(ProcessError, match="two processes named"):
            procs.add(ManagedProcess("agent-a", SLEEPER, {}, tmp_path / "c.log"))
        with pytest.raises(ProcessError, match="no process named"):
            procs["x"]
        assert [p.name for p in procs.named("bridge-")] == ["bridge-1"]
        procs.stop(["agent-a", "unknown"])
        assert not a.running()
        assert b.running()
    assert not b.running()
    assert [n.name for n in procs.notes()].count("bridge-1") == 2


def test_free_port_is_a_port() -> None:
    assert 0 < free_port() < 65536


def test_parse_stack_env() -> None:
    env = parse_stack_env(
        "# comment\nIIOT_MQTT_HOST=127.0.0.1\nIIOT_MQTT_PORT=1883\n\nIIOT_MQTT_EDGE_USERNAME=edge\n"
        "IIOT_MQTT_EDGE_PASSWORD=a=b\nIIOT_KAFKA_BOOTSTRAP=k:9092\n"
    )
    assert (env.mqtt_host, env.mqtt_port, env.kafka_bootstrap) == ("127.0.0.1", 1883, "k:9092")
    assert env.mqtt_user("edge") == ("edge", "a=b")
    with pytest.raises(StackControlError, match="has no IIOT_INFLUX_URL"):
        _ = env.influx_url


FAKE_STACK = """#!/bin/sh
echo "$@" >> "$IIOT_STACK_HOME/calls"
case "$1" in
  status) echo "mosquitto  up    pid 1  round trip ok"; echo "kafka      down"
          echo "influxdb   up    pid 3  UNHEALTHY: x"; exit 1;;
  up) if [ "$2" = "kafka" ]; then echo "kafka failed" >&2; exit 1; fi; echo ok;;
  *) echo ok;;
esac
"""


def fake_stack(tmp_path: Path) -> StackControl:
    script = tmp_path / "stack"
    script.write_text(FAKE_STACK)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "stack.env").write_text("IIOT_MQTT_HOST=h\nIIOT_MQTT_PORT=2883\n")
    return StackControl(script, {"PATH": "/usr/bin:/bin"}, stack_vars(tmp_path, 2883, 2884), timeout_s=20)


def test_stack_control_runs_the_script_with_its_home(tmp_path: Path) -> None:
    stack = fake_stack(tmp_path)
    assert stack.home == tmp_path
    stack.up("mosquitto")
    stack.down("mosquitto")
    assert stack.status()["mosquitto"].startswith("up")
    stack.require_up("mosquitto")
    with pytest.raises(StackControlError) as info:
        stack.require_up()
    assert "kafka: down" in str(info.value)
    assert "influxdb: up    pid 3  UNHEALTHY: x" in str(info.value)
    assert "mosquitto" not in str(info.value).split("\n", 1)[1].split("start them")[0]
    with pytest.raises(StackControlError, match="kafka failed"):
        stack.up("kafka")
    assert stack.read_env().mqtt_port == 2883
    assert (tmp_path / "calls").read_text().splitlines()[:2] == ["up mosquitto", "down mosquitto"]


def test_stack_control_errors(tmp_path: Path) -> None:
    missing = StackControl(tmp_path / "nope", {}, stack_vars(tmp_path))
    with pytest.raises(StackControlError, match="not found"):
        missing.up()
    with pytest.raises(StackControlError, match="cannot read"):
        missing.read_env()


def test_child_environments_carry_only_the_harness_settings(tmp_path: Path) -> None:
    base = without_iiot_vars({"PATH": "/bin", "IIOT_KAFKA_BOOTSTRAP": "leak:1", "IIOT_EDGE_X": "y"})
    assert base == {"PATH": "/bin", "PYTHONUNBUFFERED": "1"}
    names = run_names("abc")
    cloud = CloudAccess("k:9092", "http://i:8086", "iiot", "tok")
    bridge = bridge_env(base, names, 2, Broker("h", 1883), ("bridge", "pw"), cloud, {"IIOT_X": "1"})
    assert bridge["IIOT_BRIDGE_SPARKPLUG_GROUP"] == "h-abc"
    assert bridge["IIOT_KAFKA_TOPIC_PREFIX"] == "harness-abc"
    assert bridge["IIOT_MQTT_CLIENT_ID"] == "harness-abc-bridge-2"
    assert bridge["IIOT_X"] == "1"
    worker = worker_env(base, names, 1, cloud, web_port=7000, data_dir=tmp_path)
    assert worker["IIOT_INFLUX_BUCKET"] == "harness-abc"
    assert worker["IIOT_STORAGE_URL"] == "http://i:8086"
    assert worker["IIOT_WORKER_DATA_DIR"] == str(tmp_path / "worker-1")


def test_run_topics_are_those_of_the_run_prefix() -> None:
    from iiot.harness.kafka_topics import run_topics

    topics = [
        "harness-abc.iiot.v1.telemetry",
        "harness-abc-processing-state-changelog",
        "harness-abcd.iiot.v1.telemetry",
        "iiot.v1.telemetry",
        "harness-ab.iiot.v1.alerts",
    ]
    assert run_topics(topics, "harness-abc") == [
        "harness-abc-processing-state-changelog",
        "harness-abc.iiot.v1.telemetry",
    ]
