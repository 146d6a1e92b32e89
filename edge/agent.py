"""The edge agent: one asyncio service per edge node, composed from its settings.

    sources ──samples──▶ SampleQueue ──▶ fault pipeline (ring buffers) ──tick──▶ predictions, alarms ─┐
       │                     └────────▶ telemetry (report by exception) ─────────────────────────────┤
       └──frames──▶ FrameMailbox ──▶ vision pipeline ──▶ detection events, defect counters ──────────┤
                                                                                                      ▼
                                     outbox (SQLite) ◀── Sparkplug publisher ──▶ MQTT broker
    health: /metrics, /healthz, /readyz

`EdgeAgent` is an async context manager: entering loads the models (off the event loop), opens
the outbox, starts the publisher, the sources, the pipelines and the health server; leaving
stops them in reverse order and publishes the NDEATH. Adapters are imported only when used.

Time: every metric carries event time, the clock of the data's source: a sample's own time, a
prediction its window's last sample, a detection event and the camera's counters the capture
time of the frame, node metrics the newest event time the node has seen (the wall clock only
before any). Payload timestamps are the wall clock at sending, as Sparkplug B says. A camera
whose source is lost (no frames for `camera_timeout_s`, or a failed capture) gets a DDEATH, and a
DBIRTH with its next frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from edge.camera_watch import CameraWatch
from edge.errors import ConfigError
from edge.frame_mailbox import FrameMailbox
from edge.health import HealthMetrics, HealthServer, Probes
from edge.inference.base import InferenceBackend
from edge.inference.factory import load_verified, open_backend
from edge.model_slot import LoadedModel, ModelSlot, SlotEvent, swap_in
from edge.outbox import Outbox
from edge.outbox_policy import OutboxLimits, Priority
from edge.pipelines.batching import BatchPolicy
from edge.pipelines.defects import CropSettings, DefectBatch, DefectConfig, DefectPipeline, load_detector
from edge.pipelines.faults import FaultPipeline, FaultRunner, TickResult, hysteresis_config, load_fault_model
from edge.publisher.metric_map import (
    NODE_SPECS,
    DeviceCatalog,
    MetricSpec,
    ReportByException,
    camera_specs,
    metrics_from_values,
    prediction_metrics,
    prediction_specs,
    sample_metrics,
)
from edge.publisher.node import PublisherConfig, SparkplugPublisher
from edge.publisher.session import EdgeNodeSession
from edge.publisher.transport import Transport
from edge.records import SensorSamples
from edge.sample_queue import SampleQueue
from edge.settings import AgentSettings, BackendSettings
from edge.sources.base import FrameSource, SensorSource, open_source
from edge.vision.detector import Detector
from proto import codec
from proto.artifacts import ModelManifest
from proto.messages import Prediction
from proto.sparkplug import DataType
from proto.topics import detections_topic

log = logging.getLogger(__name__)

PipelineName = Literal["detector", "fault"]


def agent_version() -> str:
    """The installed package version, for the node's birth."""
    try:
        return version("iiot-edge-ai")
    except PackageNotFoundError:
        return "dev"


def _opener(manifest_path: Path, backend: BackendSettings) -> Callable[[], InferenceBackend]:
    return lambda: open_backend(manifest_path, backend.kind, backend.options())


class EdgeAgent:
    """All of one edge node's services."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        transport_factory: Callable[[], Transport] | None = None,
        metrics: HealthMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or HealthMetrics()
        self.probes = Probes(settings.health.stall_after_s)
        self._transport_factory = transport_factory
        self.catalog = DeviceCatalog()
        self.samples = SampleQueue()
        self.mailbox = FrameMailbox(settings.detector.queue_per_camera if settings.detector else 2)
        self.camera_watch = CameraWatch(settings.detector.camera_timeout_s if settings.detector else 10.0)
        self.rbe = ReportByException(
            settings.telemetry.deadband, settings.telemetry.deadbands, int(settings.telemetry.period_s * 1000)
        )
        self.faults: FaultPipeline | None = None
        self.defects: DefectPipeline | None = None
        self.publisher: SparkplugPublisher | None = None
        self.outbox: Outbox | None = None
        self.health: HealthServer | None = None
        self.sources: list[SensorSource | FrameSource] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._camera_rbe = ReportByException()
        self._fps_last: dict[str, tuple[float, int]] = {}
        self._dropped_seen: dict[str, int] = {}
        self._samples_dropped_seen = 0
        self._newest_sample_ms: int | None = None
        self._slots: dict[str, ModelSlot[Any]] = {}
        self._node_metrics_due = 0.0
        self._stack = contextlib.AsyncExitStack()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        self.samples.bind(loop)
        self.mailbox.bind(loop)
        self._declare_node()
        if s.fault is not None:
            self.faults = await self._load_faults()
        if s.detector is not None:
            self.defects = await self._load_defects()
        o = s.outbox
        self.outbox = Outbox(
            o.path,
            OutboxLimits(o.max_messages, o.max_bytes, int(o.max_age_s * 1000)),
            synchronous=o.synchronous,
        )
        self._stack.callback(self.outbox.close)
        session = EdgeNodeSession(
            s.group_id, s.edge_node_id, self.catalog, primary_host_id=s.mqtt.primary_host_id
        )
        config = PublisherConfig(
            window=s.mqtt.inflight_window,
            reconnect_min_s=s.mqtt.reconnect_min_s,
            reconnect_max_s=s.mqtt.reconnect_max_s,
        )
        self.publisher = SparkplugPublisher(
            session, self.outbox, self._transport_factory or self._paho, config
        )
        await self._stack.enter_async_context(self.publisher)
        self.probes.readiness("sparkplug_online", lambda: bool(self.publisher and self.publisher.online))
        if s.health.enabled:
            self.health = HealthServer(self.metrics, self.probes, s.health.host, s.health.port)
            await self._stack.enter_async_context(self.health)
        self._stack.push_async_callback(self._cancel_tasks)
        await self._start_sources()
        self._spawn(self._consume_samples(), "samples")
        if self.faults is not None:
            self._spawn(self._fault_loop(self.faults), "fault-ticks")
        if self.defects is not None:
            self._spawn(self.defects.run(), "defects")
        self._spawn(self._periodic(), "periodic")

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set or a task fails (its error is raised)."""
        waiter = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({waiter, *self._tasks}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not waiter and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            waiter.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"edge-{name}"))

    async def _cancel_tasks(self) -> None:
        for source in reversed(self.sources):
            with contextlib.suppress(Exception):
                await source.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for pipeline in (self.faults, self.defects):
            if pipeline is not None:
                pipeline.slot.close()

    def _paho(self) -> Transport:
        from edge.publisher.paho_transport import PahoTransport

        return PahoTransport(self.settings.mqtt, self.settings.client_id)

    # ------------------------------------------------------------------ models

    async def _load_faults(self) -> FaultPipeline:
        s = self.settings
        f = s.fault
        if f is None:
            raise ConfigError("no fault settings")
        manifest = _manifest(f.manifest, "fault")
        model = await asyncio.to_thread(
            load_fault_model, _opener(f.manifest, f.backend), manifest, f.warmup_runs
        )
        min_duration_ms = None if f.min_duration_s is None else round(f.min_duration_s * 1000)
        hysteresis = hysteresis_config(
            manifest, f.enter, f.exit, min_duration_ms, round(f.clear_duration_s * 1000)
        )
        slot = ModelSlot(model, probation_batches=f.probation_batches, listener=self._slot_listener("fault"))
        self._slots["fault"] = slot
        self.metrics.set_model("fault", model.name, model.version)
        return FaultPipeline(
            slot,
            hysteresis,
            group_id=s.group_id,
            edge_node=s.edge_node_id,
            max_batch=f.max_batch,
            pending_per_machine=f.pending_windows,
            max_gap_ms=None if f.max_gap_s is None else int(f.max_gap_s * 1000),
        )

    async def _load_defects(self) -> DefectPipeline:
        s = self.settings
        d = s.detector
        if d is None:
            raise ConfigError("no detector settings")
        manifest = _manifest(d.manifest, "detect")
        model = await asyncio.to_thread(self._detector_loader(d.manifest, manifest))
        slot = ModelSlot(
            model, probation_batches=d.probation_batches, listener=self._slot_listener("detector")
        )
        self._slots["detector"] = slot
        self.metrics.set_model("detector", model.name, model.version)
        config = DefectConfig(
            s.group_id,
            s.edge_node_id,
            BatchPolicy(d.max_batch, d.max_wait_ms / 1000),
            publish_empty=d.publish_empty,
            crop=CropSettings(d.crop, d.crop_margin, d.crop_max_side, d.crop_quality),
        )
        return DefectPipeline(slot, self.mailbox, config, self._on_defects)

    def _detector_loader(self, path: Path, manifest: ModelManifest) -> Callable[[], LoadedModel[Detector]]:
        d = self.settings.detector
        if d is None:
            raise ConfigError("no detector settings")
        return lambda: load_detector(
            _opener(path, d.backend), manifest, d.warmup_runs, d.max_batch, conf=d.conf, iou=d.iou
        )

    def _slot_listener(self, pipeline: PipelineName) -> Callable[[SlotEvent, LoadedModel[Any]], None]:
        def listener(event: SlotEvent, model: LoadedModel[Any]) -> None:
            self.metrics.model_swaps.labels(pipeline, str(event)).inc()
            slot = self._slots.get(pipeline)
            serving = slot.current if slot is not None else model
            self.metrics.set_model(pipeline, serving.name, serving.version)

        return listener

    async def swap_model(self, pipeline: PipelineName, manifest_path: str | Path) -> str:
        """Load a new model version off the hot path and swap it in; its version (or ModelSwapError)."""
        path = Path(manifest_path)
        if pipeline == "fault":
            if self.faults is None or self.settings.fault is None:
                raise ConfigError("the fault pipeline is off")
            manifest = _manifest(path, "fault")
            f = self.settings.fault
            fault_model = await swap_in(
                self.faults.slot, lambda: load_fault_model(_opener(path, f.backend), manifest, f.warmup_runs)
            )
            return fault_model.version
        if self.defects is None:
            raise ConfigError("the vision pipeline is off")
        detector = await swap_in(self.defects.slot, self._detector_loader(path, _manifest(path, "detect")))
        return detector.version

    # ------------------------------------------------------------------ sources and samples

    async def _start_sources(self) -> None:
        for entry in self.settings.sources:
            source = open_source(entry, self.settings)
            self.sources.append(source)
            if hasattr(source, "start_sensors") and getattr(entry, "sensors", True):
                await source.start_sensors(self.samples)
            if (
                hasattr(source, "start_frames")
                and getattr(entry, "frames", True)
                and self.defects is not None
            ):
                await source.start_frames(self.mailbox)

    async def _consume_samples(self) -> None:
        while True:
            samples = await self.samples.get()
            if len(samples):
                newest = int(samples.timestamps_ms.max())
                if self._newest_sample_ms is None or newest > self._newest_sample_ms:
                    self._newest_sample_ms = newest
            if self.faults is not None:
                self.faults.ingest(samples)
            if self.settings.telemetry.enabled:
                await self._publish_samples(samples)
            samples.acknowledge()  # stored: the source may let go of it

    async def _publish_samples(self, samples: SensorSamples) -> None:
        publisher = self.publisher
        if publisher is None:
            return
        self._declare_machine(samples.machine_id, samples.channels, samples.units)
        metrics = sample_metrics(
            samples.machine_id, samples.channels, samples.timestamps_ms.tolist(), samples.values, self.rbe
        )
        await publisher.send_data(samples.machine_id, metrics, Priority.TELEMETRY)

    # ------------------------------------------------------------------ faults

    async def _fault_loop(self, pipeline: FaultPipeline) -> None:
        tick_s = self.settings.fault.tick_s if self.settings.fault else 1.0
        while True:
            started = time.monotonic()
            self.probes.busy("fault-tick", started)
            result = await asyncio.to_thread(pipeline.tick)
            self.probes.busy("fault-tick", None)
            self.probes.beat("fault-tick")
            await self._on_predictions(result)
            await asyncio.sleep(max(0.0, tick_s - (time.monotonic() - started)))

    async def _on_predictions(self, result: TickResult) -> None:
        m = self.metrics
        if result.batch_size:
            m.batch_size.labels("fault").observe(result.batch_size)
            for step, ms in (
                ("assemble", result.timings.assemble_ms),
                ("inference", result.timings.inference_ms),
                ("postprocess", result.timings.postprocess_ms),
            ):
                m.step_seconds.labels("fault", step).observe(ms / 1000)
            m.predictions.inc(result.batch_size)
        for alarm in result.alarms:
            m.alarm_transitions.labels(str(alarm.transition)).inc()
            log.warning(
                "ALARM %s on %s (line %s): %s, probability %.2f at %d",
                str(alarm.transition).upper(),
                alarm.machine_id,
                alarm.line_id,
                alarm.fault_type,
                alarm.probability,
                alarm.timestamp_ms,
            )
        if self.faults is not None:
            m.alarms_active.set(self.faults.active_alarms)
            m.windows_skipped.set(self.faults.assembler.skipped)
        publisher = self.publisher
        if publisher is None:
            return
        alarmed = {a.machine_id for a in result.alarms}
        by_machine: dict[str, list[Prediction]] = {}
        for prediction in result.predictions:
            by_machine.setdefault(prediction.machine_id, []).append(prediction)
        for machine_id, predictions in by_machine.items():
            self._declare_predictions(machine_id)
            metrics = [metric for p in predictions for metric in prediction_metrics(p)]
            priority = Priority.ALARM if machine_id in alarmed else Priority.EVENT
            await publisher.send_data(machine_id, metrics, priority)

    # ------------------------------------------------------------------ defects

    async def _on_defects(self, batch: DefectBatch) -> None:
        m = self.metrics
        t = batch.timings
        m.batch_size.labels("vision").observe(t.size)
        for step, ms in (
            ("decode", t.decode_ms),
            ("preprocess", t.preprocess_ms),
            ("inference", t.inference_ms),
            ("postprocess", t.postprocess_ms),
            ("queue_wait", t.queue_wait_ms),
        ):
            m.step_seconds.labels("vision", step).observe(ms / 1000)
        publisher = self.publisher
        s = self.settings
        for event in batch.events:
            m.frames.labels(event.camera_id).inc()
            for detection in event.detections:
                m.detections.labels(event.camera_id, event.line_id, detection.class_name).inc()
            if publisher is not None and (event.detections or (s.detector and s.detector.publish_empty)):
                topic = detections_topic(s.group_id, s.edge_node_id, event.camera_id)
                await publisher.send_raw(topic, codec.encode(event), Priority.EVENT)

    # ------------------------------------------------------------------ periodic metrics

    async def _periodic(self) -> None:
        period = self.settings.node_metrics_period_s
        while True:
            self.probes.beat("event-loop")
            await self._update_health()
            await self._watch_cameras()
            if time.monotonic() >= self._node_metrics_due:
                self._node_metrics_due = time.monotonic() + period
                await self._publish_node_and_cameras()
            await asyncio.sleep(min(period, 1.0))

    async def _update_health(self) -> None:
        m = self.metrics
        m.queue_depth.labels("samples").set(len(self.samples))
        if self.samples.dropped > self._samples_dropped_seen:
            m.samples_dropped.inc(self.samples.dropped - self._samples_dropped_seen)
            self._samples_dropped_seen = self.samples.dropped
        m.queue_depth.labels("frames").set(self.mailbox.depth())
        for camera, dropped in list(self.mailbox.dropped.items()):
            seen = self._dropped_seen.get(camera, 0)
            if dropped > seen:  # mirror the mailbox's counter
                m.frames_dropped.labels(camera).inc(dropped - seen)
                self._dropped_seen[camera] = dropped
        now = time.monotonic()
        if self.defects is not None:
            for camera, frames in self.defects.counters.frames.items():
                last = self._fps_last.get(camera)
                if last is not None and now - last[0] >= 1.0:
                    m.fps.labels(camera).set((frames - last[1]) / (now - last[0]))
                if last is None or now - last[0] >= 1.0:
                    self._fps_last[camera] = (now, frames)
        if self.outbox is not None:
            for priority, usage in self.outbox.usage().items():
                m.outbox_messages.labels(priority.name.lower()).set(usage.messages)
                m.outbox_bytes.labels(priority.name.lower()).set(usage.bytes)
            for (priority, reason), count in self.outbox.dropped.items():
                m.outbox_dropped.labels(priority.name.lower(), str(reason)).set(count)
        if self.publisher is not None:
            m.inflight.set(self.publisher.inflight)
            m.mqtt_online.set(1 if self.publisher.online else 0)
            m.mqtt_connects.set(self.publisher.stats["connects"])

    def event_time_ms(self) -> int:
        """The newest event time this node has seen (samples, frames); the wall clock before any."""
        seen = [t for t in (self._newest_sample_ms, *self.mailbox.newest_ms().values()) if t is not None]
        return max(seen) if seen else time.time_ns() // 1_000_000

    async def _watch_cameras(self) -> None:
        publisher = self.publisher
        if publisher is None or self.defects is None:
            return
        changes = self.camera_watch.check(self.mailbox.arrivals(), self.mailbox.losses(), time.monotonic())
        for camera in changes.lost:
            log.warning(
                "camera %s lost (its source failed, or no frame for %.0f s): DDEATH",
                camera,
                self.camera_watch.timeout_s,
            )
            await publisher.send_device_death(camera)
        for camera in changes.back:
            log.info("camera %s is back: DBIRTH", camera)
            await self._publish_camera(camera, force=True)

    async def _publish_node_and_cameras(self) -> None:
        publisher, outbox = self.publisher, self.outbox
        if publisher is None or outbox is None:
            return
        now = self.event_time_ms()
        total = outbox.total
        values: dict[str, Any] = {
            "Node Info/Agent Version": agent_version(),
            "Outbox/messages": total.messages,
            "Outbox/bytes": total.bytes,
            "Outbox/dropped": sum(outbox.dropped.values()),
            "Frames/dropped": sum(self.mailbox.dropped.values()),
            "Alarms/active": self.faults.active_alarms if self.faults else 0,
        }
        if self.defects is not None:
            values["Models/detector/version"] = self.defects.slot.current.version
        if self.faults is not None:
            values["Models/fault/version"] = self.faults.slot.current.version
        await self._send_changed(None, NODE_SPECS, values, now)
        if self.defects is None:
            return
        cameras = set(self.defects.counters.frames) | set(self.mailbox.received)
        for camera in sorted(cameras):
            if self.camera_watch.is_up(camera):  # a lost camera's DATA would birth it again
                await self._publish_camera(camera)

    async def _publish_camera(self, camera: str, *, force: bool = False) -> None:
        """The camera's counters at the capture time of its newest frame (all of them if `force`)."""
        if self.defects is None:
            return
        names = self.defects.slot.current.runner.config.class_names
        specs = camera_specs(names)
        self.catalog.declare(camera, specs)
        camera_values = self.defects.counters.camera_values(camera, self.mailbox.dropped[camera], names)
        camera_values["model/version"] = self.defects.slot.current.version
        t = self.mailbox.newest_ms().get(camera)
        await self._send_changed(
            camera, specs, camera_values, t if t is not None else self.event_time_ms(), force=force
        )

    async def _send_changed(
        self,
        device: str | None,
        specs: Sequence[MetricSpec],
        values: dict[str, Any],
        t_ms: int,
        *,
        force: bool = False,
    ) -> None:
        if self.publisher is None:
            return
        changed = {
            k: v for k, v in values.items() if self._camera_rbe.should_report(device, k, v, t_ms) or force
        }
        metrics = metrics_from_values(specs, changed, t_ms)
        if metrics:
            await self.publisher.send_data(device, metrics, Priority.EVENT)

    # ------------------------------------------------------------------ catalog

    def _declare_node(self) -> None:
        self.catalog.declare(None, NODE_SPECS)
        for machine in self.settings.machines:
            self._declare_machine(machine.machine_id, machine.channels, machine.units)

    def _declare_machine(self, machine_id: str, channels: Sequence[str], units: Sequence[str]) -> None:
        unit_of = dict(zip(channels, units, strict=False)) if units else {}
        self.catalog.declare(
            machine_id, [MetricSpec(c, DataType.DOUBLE, unit_of.get(c, "")) for c in channels]
        )
        if self.faults is not None:
            self._declare_predictions(machine_id)

    def _declare_predictions(self, machine_id: str) -> None:
        if self.faults is not None:
            runner: FaultRunner = self.faults.slot.current.runner
            self.catalog.declare(machine_id, prediction_specs(runner.outputs.class_names))


def _manifest(path: Path, task: str) -> ModelManifest:
    """The verified manifest of an artifact, or ConfigError naming the file."""
    try:
        manifest, _ = load_verified(path)
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if manifest.task != task:
        raise ConfigError(f"{path}: a {manifest.task} model where a {task} model is configured")
    return manifest


async def run_agent(settings: AgentSettings, stop: asyncio.Event | None = None) -> None:
    """Run one edge node until `stop` is set (or forever)."""
    stop = stop or asyncio.Event()
    async with EdgeAgent(settings) as agent:
        log.info(
            "edge node %s/%s running: %d source(s), detector %s, fault %s",
            settings.group_id,
            settings.edge_node_id,
            len(settings.sources),
            "on" if agent.defects else "off",
            "on" if agent.faults else "off",
        )
        await agent.run(stop)
