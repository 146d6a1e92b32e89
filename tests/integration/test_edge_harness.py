"""Test harness for the edge agent's integration tests, and a check of the harness itself.

* `ThrowawayBroker`: a second Mosquitto started by the test from the stack's binary, password
  file and ACL, on a free port with its own persistence folder, so a test can stop and start
  "the broker" without disturbing the shared stack or anyone else's tests.
* `HostCollector`: a Sparkplug host application (harness user, persistent session): subscribes
  to the group's topics, publishes its STATE online (the agent waits for it), records everything.
* `TwinFeed`: publishes twin SensorBatch and CameraFrame messages (twin user) with values that
  identify each sample, and remembers what it sent.
* `SparkplugView`: decodes what the collector got with the proto codec (aliases, seq tracking).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from stack_settings import StackSettings

from proto import codec, topics
from proto.messages import CameraFrame, DetectionEvent, SensorBatch
from proto.sparkplug import (
    AliasTable,
    HostState,
    MessageType,
    SequenceTracker,
    SparkplugTopic,
    Verdict,
    decode_message,
    encode_state,
    parse_topic,
    state_topic,
)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], object], within_s: float, what: str) -> None:
    """Poll until predicate() is truthy; AssertionError naming `what` after within_s."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")
        time.sleep(0.05)


class ThrowawayBroker:
    """A private Mosquitto on a free port, with the stack's users and ACL and its own persistence."""

    def __init__(self, stack: StackSettings, workdir: Path) -> None:
        home = stack.mqtt_ca_file.parent.parent / "mosquitto"
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "data").mkdir(exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            "user root\n"
            "per_listener_settings false\n"
            "allow_anonymous false\n"
            f"password_file {home / 'passwd'}\n"
            f"acl_file {home / 'acl'}\n"
            "persistence true\n"
            f"persistence_location {workdir / 'data'}/\n"
            f"log_dest file {workdir / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "max_queued_messages 100000\n"
            f"listener {self.port} 127.0.0.1\n"
        )
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

        def accepting() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"mosquitto exited: {self.process.stderr.read().decode() if self.process.stderr else ''}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(accepting, 15, f"the throwaway broker on port {self.port}")

    def stop(self) -> None:
        """Stop it cleanly (SIGTERM: it saves its persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)
        self.process = None

    def __enter__(self) -> ThrowawayBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client_for(stack: StackSettings, user: str, client_id: str, *, persistent: bool = False) -> mqtt.Client:
    """A paho client logged in as one of the stack's users."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
    )
    account = stack.mqtt_user(user)
    client.username_pw_set(account.username, account.password)
    client.reconnect_delay_set(1, 2)
    return client


@dataclass
class Received:
    """One message as the collector got it."""

    topic: str
    payload: bytes
    at: float


class HostCollector:
    """A Sparkplug primary host that records every message of one group (and its detections)."""

    def __init__(self, stack: StackSettings, port: int, group: str, host_id: str) -> None:
        self.group, self.host_id = group, host_id
        self.client = client_for(stack, "harness", f"it-host-{uuid.uuid4().hex[:8]}", persistent=True)
        self.port = port
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.connects = 0
        self.client.will_set(
            state_topic(host_id), encode_state(HostState(False, self._now())), qos=1, retain=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    @staticmethod
    def _now() -> int:
        return time.time_ns() // 1_000_000

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(f"spBv1.0/{self.group}/#", qos=1)
        client.subscribe(f"iiot/v1/{self.group}/#", qos=1)
        self.connects += 1
        client.publish(
            state_topic(self.host_id), encode_state(HostState(True, self._now())), qos=1, retain=True
        )

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), time.monotonic()))

    def start(self) -> HostCollector:
        self.client.connect_async("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        wait_until(lambda: self.connects > 0, 15, "the host collector to connect")
        return self

    def stop(self) -> None:
        self.client.publish(
            state_topic(self.host_id), encode_state(HostState(False, self._now())), qos=1, retain=True
        )
        self.client.disconnect()
        self.client.loop_stop()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)


@dataclass
class SparkplugView:
    """What a host made of the collected messages: metrics per device, verdicts, detection events."""

    samples: dict[tuple[str, str, int], list[tuple[float, bool]]] = field(default_factory=dict)
    metrics: dict[tuple[str, str], list[tuple[int, Any, bool]]] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    births: list[int] = field(default_factory=list)  # bdSeq of each NBIRTH
    events: dict[tuple[str, int], list[DetectionEvent]] = field(default_factory=dict)

    @classmethod
    def of(cls, messages: list[Received], channels: set[str]) -> SparkplugView:
        view = cls()
        aliases = AliasTable()
        tracker = SequenceTracker()
        for message in messages:
            if message.topic.startswith("iiot/"):
                event = codec.decode(DetectionEvent, message.payload)
                view.events.setdefault((event.camera_id, event.seq), []).append(event)
                continue
            parsed = parse_topic(message.topic)
            if not isinstance(parsed, SparkplugTopic):
                continue
            kind, device = parsed.message_type, parsed.device_id
            if kind in (MessageType.NCMD, MessageType.DCMD):
                continue
            payload = decode_message(kind, message.payload, aliases=aliases, device_id=device)
            if kind in (MessageType.NBIRTH, MessageType.DBIRTH):
                aliases.learn(payload.metrics, device)
            if kind is MessageType.NBIRTH:
                view.births.append(int(payload.bd_seq or 0))
            view.verdicts.append(tracker.observe(parsed.node_key, kind, payload.seq, payload.bd_seq).verdict)
            if kind not in (MessageType.DDATA, MessageType.NDATA) or device is None:
                continue
            for metric in payload.metrics:
                name = str(metric.name)
                stamp = int(metric.timestamp or 0)
                view.metrics.setdefault((device, name), []).append(
                    (stamp, metric.value, metric.is_historical)
                )
                if name in channels:
                    view.samples.setdefault((device, name, stamp), []).append(
                        (float(metric.value), metric.is_historical)  # type: ignore[arg-type]
                    )
        return view


class TwinFeed:
    """Publishes sensor batches and camera frames like the twin, remembering every sample and frame."""

    CHANNELS = ("temperature_c", "vib_rms_g")

    def __init__(
        self, stack: StackSettings, site: str, line: str, machines: list[str], cameras: list[str]
    ) -> None:
        self.site, self.line, self.machines, self.cameras = site, line, machines, cameras
        self.client = client_for(stack, "twin", f"it-twin-{uuid.uuid4().hex[:8]}")
        self.client.connect("127.0.0.1", stack.mqtt_port, keepalive=10)
        self.client.loop_start()
        self.sent: dict[tuple[str, str, int], float] = {}
        self.frames: dict[tuple[str, int], float] = {}  # (camera, seq) -> monotonic time sent
        self._seq: dict[str, int] = {}
        self._t_ms = 1_700_000_000_000
        self.level: dict[str, float] = {}

    def batch(self, samples: int = 5, period_ms: int = 100) -> None:
        """One SensorBatch per machine; values are unique per sample (value = t + channel index / 10)."""
        t = [self._t_ms + k * period_ms for k in range(samples)]
        self._t_ms += samples * period_ms
        for machine in self.machines:
            values = []
            for ts in t:
                for j, channel in enumerate(self.CHANNELS):
                    value = self.level.get(machine, 0.0) + (ts % 100_000) / 1e6 + j / 10
                    values.append(value)
                    self.sent[(machine, channel, ts)] = value
            seq = self._seq[machine] = self._seq.get(machine, 0) + 1
            message = SensorBatch(
                site_id=self.site,
                line_id=self.line,
                machine_id=machine,
                machine_kind="pump",
                channels=list(self.CHANNELS),
                units=["degC", "g"],
                timestamps_ms=t,
                values=values,
                seq=seq,
            )
            self.client.publish(
                topics.sensors_topic(self.site, self.line, machine), codec.encode(message), qos=1
            )

    def frame(self, camera: str, boxes: list[tuple[int, int, int, int]] | None = None) -> None:
        """One 128x96 JPEG frame with bright squares as defects."""
        image = np.full((96, 128, 3), 10, np.uint8)
        for x1, y1, x2, y2 in boxes or [(32, 0, 48, 16)]:
            cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), (255, 255, 255), -1)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        seq = self._seq[camera] = self._seq.get(camera, 0) + 1
        message = CameraFrame(
            site_id=self.site,
            line_id=self.line,
            camera_id=camera,
            part_id=f"{camera}-{seq}",
            machine_id=self.machines[0],
            timestamp_ms=self._t_ms,
            jpeg=jpeg.tobytes(),
            width=128,
            height=96,
            seq=seq,
        )
        self.client.publish(topics.frames_topic(self.site, self.line, camera), codec.encode(message), qos=1)
        self.frames[(camera, seq)] = time.monotonic()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Load:
    """Runs a TwinFeed on a thread: a batch every `period_s`, a frame per camera every `frame_every`."""

    def __init__(self, feed: TwinFeed, period_s: float = 0.5, frame_every: int = 1) -> None:
        self.feed, self.period_s, self.frame_every = feed, period_s, frame_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            self.feed.batch()
            if n % self.frame_every == 0:
                for camera in self.feed.cameras:
                    self.feed.frame(camera)
            n += 1
            self._stop.wait(self.period_s)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def edge_settings(
    stack: StackSettings,
    tmp: Path,
    *,
    broker_port: int,
    group: str,
    site: str,
    host_id: str,
    fault_manifest: Path,
    detector_manifest: Path,
) -> dict[str, Any]:
    """edge.yaml contents for an agent that reads the twin from the stack and publishes to `broker_port`."""
    edge = stack.mqtt_user("edge")
    mqtt_common = {"username": edge.username, "password": edge.password, "host": "127.0.0.1"}
    cpu = {"kind": "onnxruntime", "providers": ["CPUExecutionProvider"], "intra_op_threads": 1}
    return {
        "group_id": group,
        "edge_node_id": "edge-it",
        "mqtt": {
            **mqtt_common,
            "port": broker_port,
            "primary_host_id": host_id,
            "reconnect_max_s": 2.0,
            "client_id": f"{group}-edge-it",
        },
        "sources": [{"kind": "twin", "site_id": site, "mqtt": {**mqtt_common, "port": stack.mqtt_port}}],
        "fault": {"manifest": str(fault_manifest), "tick_s": 0.5, "backend": cpu},
        "detector": {
            "manifest": str(detector_manifest),
            "backend": cpu,
            "publish_empty": True,
            "queue_per_camera": 50,
            "max_wait_ms": 5,
        },
        "telemetry": {"deadband": 0.0, "period_s": 0},
        "outbox": {"path": str(tmp / "outbox.sqlite"), "synchronous": "NORMAL"},
        "health": {"enabled": False},
        "node_metrics_period_s": 5.0,
    }


def test_throwaway_broker_keeps_a_persistent_session_across_a_restart(
    stack: StackSettings, tmp_path: Path
) -> None:
    broker = ThrowawayBroker(stack, tmp_path / "broker")
    with broker:
        host = HostCollector(stack, broker.port, f"it-{uuid.uuid4().hex[:6]}", "it-host").start()
        broker.stop()
        broker.start()
        wait_until(lambda: host.connects >= 2, 20, "the collector to reconnect")
        publisher = client_for(stack, "harness", "it-pub")
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        publisher.publish(f"spBv1.0/{host.group}/NDATA/x", b"", qos=1).wait_for_publish(5)
        wait_until(lambda: any(m.topic.endswith("/NDATA/x") for m in host.snapshot()), 10, "the message")
        publisher.disconnect()
        publisher.loop_stop()
        host.stop()
    assert os.path.exists(tmp_path / "broker" / "data")
