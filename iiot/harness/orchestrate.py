"""One harness run, start to finish: stack, pipeline processes, twin, events, drain, scoring.

The order: check (or start) the stack; create the run's bucket; write one edge.yaml per agent;
connect the MQTT observer; start workers and bridges, then agents; wait until every agent's
birth is in storage (the whole path works); run the twin in a thread with the MQTT publisher
and the recorder as sinks; play the harness events as the twin's sim clock reaches them; when
the twin is done, wait for storage to catch up; stop agents, bridges and workers; read what was
stored and score it. Whatever fails, everything started is stopped and a stopped broker is
started again; the outcome carries the errors and the report is written from it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from iiot.harness.edge_plan import AgentPlan, BrokerAccess, agent_config, plan_agents
from iiot.harness.errors import HarnessError, ObservationError, PipelineNotReady, ScenarioFileError
from iiot.harness.events import EventSchedule, outages
from iiot.harness.expectations import Check, RunScores, evaluate
from iiot.harness.influx_probe import InfluxProbe
from iiot.harness.kafka_topics import delete_run_topics
from iiot.harness.launch import (
    Broker,
    CloudAccess,
    RunNames,
    agent_argv,
    agent_env,
    bridge_argv,
    bridge_env,
    iiot_executable,
    run_names,
    worker_argv,
    worker_env,
)
from iiot.harness.mqtt_observer import MqttObserver
from iiot.harness.processes import ManagedProcess, ProcessNote, ProcessSet, free_port
from iiot.harness.recorder import SentCounts, TwinRecorder
from iiot.harness.records import AlertSpan, FaultEpisode, Outage, PlayedEvent
from iiot.harness.run_scoring import Observations, score_run
from iiot.harness.scenario import HarnessEventSpec, HarnessScenario, resolve_plant
from iiot.harness.scoring import fault_episodes
from iiot.harness.settings import HarnessSettings
from iiot.harness.stack_control import StackControl, StackEnv, stack_vars, without_iiot_vars
from iiot.harness.storage_watch import StorageWatch
from simulators.plant import PlantSpec
from simulators.sensors import CHANNELS

log = logging.getLogger(__name__)
QUERY_CHUNK = 50


@dataclass(slots=True)
class RunOutcome:
    """Everything a run produced, for the report."""

    scenario: HarnessScenario
    run_id: str
    run_dir: Path
    names: RunNames
    plant_name: str = ""
    machines: int = 0
    cameras: int = 0
    plans: tuple[AgentPlan, ...] = ()
    epoch_ms: int | None = None
    sim_s: float = 0.0
    twin_wall_s: float = 0.0
    max_lag_s: float = 0.0
    counts: SentCounts | None = None
    played: list[PlayedEvent] = field(default_factory=list)
    process_notes: list[ProcessNote] = field(default_factory=list)
    episodes: list[FaultEpisode] = field(default_factory=list)
    alerts: list[AlertSpan] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    scores: RunScores = field(default_factory=RunScores)
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)
    truth_messages: dict[str, int] = field(default_factory=dict)
    polls: int = 0

    @property
    def passed(self) -> bool:
        """No error and every check held."""
        return not self.errors and all(c.passed for c in self.checks)


class HarnessRun:
    """Runs one scenario against the stack; ``run()`` never raises for what it can report."""

    def __init__(
        self,
        scenario: HarnessScenario,
        settings: HarnessSettings,
        base_env: Mapping[str, str],
        *,
        run_dir: Path | None = None,
        tag: str | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.settings = settings
        self.base_env = dict(base_env)
        self.child_env = without_iiot_vars(base_env)
        tag = tag or secrets.token_hex(3)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.run_id = f"{scenario.name}-{stamp}-{tag}"
        self.run_dir = run_dir or settings.runs_dir / self.run_id
        self.names = run_names(tag)
        self.outcome = RunOutcome(scenario, self.run_id, self.run_dir, self.names)
        self.stack = StackControl(
            settings.stack_script,
            self.child_env,
            stack_vars(settings.stack_home),
            timeout_s=settings.stack_timeout_s,
        )
        self.broker_stack = (
            StackControl(
                settings.stack_script,
                self.child_env,
                stack_vars(settings.broker_stack_home, settings.broker_port, settings.broker_tls_port),
                timeout_s=settings.stack_timeout_s,
            )
            if settings.broker_stack_home
            else self.stack
        )
        self.procs = ProcessSet(settings.stop_timeout_s)
        self._progress = progress
        self._sim_s = 0.0
        self._broker_stopped = False
        self._t0 = time.time()

    # ------------------------------------------------------------------ the run

    def run(self) -> RunOutcome:
        """Run the scenario; errors end up in ``outcome.errors``."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "scenario.json").write_text(self.scenario.model_dump_json(indent=2), encoding="utf-8")
        try:
            with ExitStack() as stack:
                stack.callback(self._restore_broker)
                stack.enter_context(self.procs)
                self._run(stack)
        except HarnessError as exc:
            self.outcome.errors.append(f"{type(exc).__name__}: {exc}")
            log.error("run aborted: %s", exc)
        except Exception as exc:  # a bug: still stop everything (done above) and report it
            self.outcome.errors.append(f"internal error: {type(exc).__name__}: {exc}")
            log.exception("run aborted by an internal error")
        finally:
            self.outcome.process_notes = self.procs.notes()
        self._phase("total")
        return self.outcome

    def _phase(self, name: str) -> None:
        self.outcome.phases.append((name, round(time.time() - self._t0, 1)))

    def _run(self, stack: ExitStack) -> None:
        out = self.outcome
        plant = resolve_plant(self.scenario.plant, site_suffix=self.names.site_suffix)
        self.scenario.check_against(plant)
        plans = plan_agents(self.scenario.edge, plant)
        for what, path in (
            ("edge.detector", self.scenario.edge.detector),
            ("edge.fault", self.scenario.edge.fault),
        ):
            if path is not None and not path.is_file():
                raise ScenarioFileError(
                    f"{what}: no model manifest at {path} (paths are relative to {Path.cwd()})"
                )
        out.plant_name, out.plans = plant.name, plans
        out.machines = len(plant.machine_ids())
        out.cameras = len(plant.cameras())
        if self.settings.start_stack:
            self.stack.up()
            if self.broker_stack is not self.stack:
                self.broker_stack.up("mosquitto")
        self.stack.require_up()
        if self.broker_stack is not self.stack:
            self.broker_stack.require_up("mosquitto")
        env, broker_env = self.stack.read_env(), self.broker_stack.read_env()
        self._phase("stack checked")

        probe = stack.enter_context(
            InfluxProbe(env.influx_url, env.influx_token, env.influx_org, self.names.bucket)
        )
        probe.create_bucket()
        if not self.settings.keep_data:
            stack.callback(self._drop_data, probe, env.kafka_bootstrap)
        broker = Broker(broker_env.mqtt_host, broker_env.mqtt_port)
        site_ids = tuple(s.id for s in plant.sites)
        observer = stack.enter_context(
            MqttObserver(
                broker.host,
                broker.port,
                *broker_env.mqtt_user("harness"),
                group_id=self.names.group_id,
                site_ids=site_ids,
                client_id=f"{self.names.app_id}-observer",
            )
        )
        self._start_pipeline(plans, broker, broker_env, env)
        self._wait_ready(plans, probe)
        self._phase("pipeline ready")

        served_machines = sorted({m for p in plans for m in p.machines})
        served_cameras = sorted({c for p in plans for c in p.camera_ids})
        recorder = TwinRecorder(served_machines, served_cameras)
        watch = StorageWatch(
            probe,
            recorder,
            served_machines[: self.scenario.observe.probe_machines],
            CHANNELS,
            interval_s=self.scenario.observe.poll_interval_s,
        )
        watch.start()
        stack.callback(watch.stop)
        self._run_twin(plant, recorder, broker_env)
        self._phase("twin done")
        self._drain(probe, recorder)
        self._phase("drained")
        watch.stop()
        self._stop_pipeline()
        self._phase("pipeline stopped")
        self._score(plans, recorder, probe, observer, watch, served_machines, served_cameras)
        self._phase("scored")

    # ------------------------------------------------------------------ processes

    def _start_pipeline(
        self, plans: tuple[AgentPlan, ...], broker: Broker, broker_env: StackEnv, env: StackEnv
    ) -> None:
        iiot = iiot_executable(self.settings.iiot_command)
        logs, state = self.run_dir / "logs", self.run_dir / "state"
        cloud = CloudAccess(env.kafka_bootstrap, env.influx_url, env.influx_org, env.influx_token)
        extra = self.scenario.cloud.env
        for n in range(1, self.scenario.cloud.workers + 1):
            self.procs.add(
                ManagedProcess(
                    f"worker-{n}",
                    worker_argv(iiot),
                    worker_env(
                        self.child_env,
                        self.names,
                        n,
                        cloud,
                        web_port=free_port(),
                        data_dir=state,
                        extra=extra,
                    ),
                    logs / f"worker-{n}.log",
                )
            ).start()
        bridge_account = broker_env.mqtt_user("bridge")
        for n in range(1, self.scenario.cloud.bridges + 1):
            self.procs.add(
                ManagedProcess(
                    f"bridge-{n}",
                    bridge_argv(iiot),
                    bridge_env(self.child_env, self.names, n, broker, bridge_account, cloud, extra),
                    logs / f"bridge-{n}.log",
                )
            ).start()
        edge_user, edge_password = broker_env.mqtt_user("edge")
        access = BrokerAccess(broker.host, broker.port, edge_user)
        for plan in plans:
            config_path = self._write_agent_config(plan, access, state / plan.agent_id)
            self.procs.add(
                ManagedProcess(
                    plan.agent_id,
                    agent_argv(iiot, config_path),
                    agent_env(self.child_env, edge_password),
                    logs / f"{plan.agent_id}.log",
                )
            ).start()

    def _write_agent_config(self, plan: AgentPlan, access: BrokerAccess, state_dir: Path) -> Path:
        edge = self.scenario.edge
        config = agent_config(
            plan,
            group_id=self.names.group_id,
            broker=access,
            state_dir=state_dir.resolve(),
            detector=edge.detector.resolve() if edge.detector else None,
            fault=edge.fault.resolve() if edge.fault else None,
            extra=edge.settings,
        )
        _validate_agent_config(config, plan.agent_id)
        state_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "configs" / f"{plan.agent_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def _check_alive(self, during: str) -> None:
        for proc in self.procs:
            code = proc.unexpected_exit()
            if code is not None:
                message = f"{proc.name} exited with status {code} {during}; log tail:\n{proc.log_tail(15)}"
                self.outcome.errors.append(message)
                log.error(message)

    def _wait_ready(self, plans: tuple[AgentPlan, ...], probe: InfluxProbe) -> None:
        wanted = {p.agent_id for p in plans}
        deadline = time.time() + self.scenario.observe.ready_timeout_s
        born: set[str] = set()
        while time.time() < deadline:
            self._check_alive("while starting")
            if self.outcome.errors:
                raise PipelineNotReady("a pipeline process died while starting (see above)", retriable=False)
            try:
                born = probe.node_births(self.names.group_id)
            except ObservationError as exc:
                log.warning("readiness poll failed: %s", exc)
            if wanted <= born:
                return
            time.sleep(2.0)
        missing = ", ".join(sorted(wanted - born))
        tails = "\n".join(f"--- {p.name}\n{p.log_tail(8)}" for p in self.procs)
        raise PipelineNotReady(
            f"no birth in storage from {missing} after {self.scenario.observe.ready_timeout_s:g} s "
            f"(agent -> broker -> bridge -> Kafka -> worker -> InfluxDB)\n{tails}"
        )

    def _stop_pipeline(self) -> None:
        self.procs.stop([plan.agent_id for plan in self.outcome.plans])
        time.sleep(2.0)
        self.procs.stop([p.name for p in self.procs.named("bridge-")])
        time.sleep(2.0)
        self.procs.stop([p.name for p in self.procs.named("worker-")])

    def _restore_broker(self) -> None:
        if self._broker_stopped:
            try:
                self.broker_stack.up("mosquitto")
                self._broker_stopped = False
            except HarnessError as exc:
                self.outcome.errors.append(f"could not start the broker again: {exc}")

    def _drop_data(self, probe: InfluxProbe, bootstrap: str) -> None:
        try:
            probe.delete_bucket()
        except HarnessError as exc:
            self.outcome.notes.append(f"bucket {self.names.bucket} not deleted: {exc}")
        try:
            deleted = delete_run_topics(bootstrap, self.names.kafka_prefix)
            self.outcome.notes.append(f"deleted {len(deleted)} Kafka topics {self.names.kafka_prefix}.*/-*")
        except HarnessError as exc:
            self.outcome.notes.append(f"Kafka topics of the run not deleted: {exc}")

    # ------------------------------------------------------------------ twin and events

    def _run_twin(self, plant: PlantSpec, recorder: TwinRecorder, broker_env: StackEnv) -> None:
        from simulators.clock import Pacer
        from simulators.mqtt_publisher import MqttTwinPublisher
        from simulators.runner import PlantRunner, RunSummary
        from simulators.settings import TwinSettings
        from simulators.twin import Twin

        spec = self.scenario.twin
        user, password = broker_env.mqtt_user("twin")
        settings = TwinSettings(
            mqtt_host=broker_env.mqtt_host,
            mqtt_port=broker_env.mqtt_port,
            mqtt_username=user,
            mqtt_password=SecretStr(password),
            mqtt_client_id=f"{self.names.app_id}-twin",
        )
        epoch_ms = int(time.time()) * 1000
        self.outcome.epoch_ms = epoch_ms
        twin = Twin(
            plant,
            spec.seed,
            scenario=self.scenario.twin_scenario(),
            random_faults=spec.random_faults,
            block_s=spec.block_s,
            epoch_ms=epoch_ms,
        )
        result: dict[str, Any] = {}

        def progress(step_s: float) -> None:
            self._sim_s += step_s

        def twin_main() -> None:
            try:
                with MqttTwinPublisher(settings) as publisher:
                    runner = PlantRunner(
                        twin, [publisher, recorder], pacer=Pacer(spec.speed), cameras=spec.cameras
                    )
                    result["summary"] = runner.run(spec.duration_s, progress=progress)
            except Exception as exc:  # reported, the run goes on to scoring what was sent
                result["error"] = exc

        thread = threading.Thread(target=twin_main, name="harness-twin", daemon=True)
        schedule = EventSchedule(self.scenario.events)
        thread.start()
        while thread.is_alive():
            for event in schedule.due(self._sim_s):
                self.outcome.played.append(self._play(event))
            self._check_alive(f"at sim {self._sim_s:.0f} s")
            if self._progress is not None:
                self._progress(self._sim_s)
            thread.join(timeout=0.2)
        for event in schedule.due(self._sim_s):
            self.outcome.played.append(self._play(event))
        if "error" in result:
            self.outcome.errors.append(f"twin: {type(result['error']).__name__}: {result['error']}")
        summary: RunSummary | None = result.get("summary")
        if summary is not None:
            self.outcome.sim_s, self.outcome.twin_wall_s = summary.sim_s, summary.wall_s
            self.outcome.max_lag_s = summary.max_lag_s
        else:
            self.outcome.sim_s = self._sim_s
        self.outcome.counts = recorder.counts()

    def _play(self, event: HarnessEventSpec) -> PlayedEvent:
        sim_s, wall = self._sim_s, time.time()
        log.info("sim %.0f s: %s %s", sim_s, event.action, event.target or "")
        try:
            if event.action == "broker_stop":
                self.broker_stack.down("mosquitto")
                self._broker_stopped = True
            elif event.action == "broker_start":
                self.broker_stack.up("mosquitto")
                self._broker_stopped = False
            elif event.action.endswith("_kill"):
                self.procs[str(event.target)].kill()
            else:
                self.procs[str(event.target)].restart()
        except HarnessError as exc:
            return PlayedEvent(event.at_s, event.action, event.target, sim_s, wall, False, str(exc))
        return PlayedEvent(
            event.at_s, event.action, event.target, sim_s, wall, True, f"{time.time() - wall:.1f} s"
        )

    def _drain(self, probe: InfluxProbe, recorder: TwinRecorder) -> None:
        observe = self.scenario.observe
        expected = recorder.counts().expected_samples
        start = last_change = time.time()
        last = -1
        while time.time() - start < observe.drain_s:
            self._check_alive("while draining")
            try:
                stored = probe.count_telemetry(CHANNELS)
            except ObservationError as exc:
                log.warning("drain poll failed: %s", exc)
                stored = last
            changed = stored != last
            if changed:
                last, last_change = stored, time.time()
            # all there (and still, so that re-reports after a restart cannot hide a gap), or settled
            if (stored >= expected and not changed) or time.time() - last_change >= observe.settle_s:
                break
            time.sleep(min(2.0, observe.poll_interval_s))
        self.outcome.notes.append(
            f"drain: {last} of {expected} expected telemetry points stored after {time.time() - start:.0f} s"
        )

    # ------------------------------------------------------------------ scoring

    def _score(
        self,
        plans: tuple[AgentPlan, ...],
        recorder: TwinRecorder,
        probe: InfluxProbe,
        observer: MqttObserver,
        watch: StorageWatch,
        served_machines: list[str],
        served_cameras: list[str],
    ) -> None:
        out, spec = self.outcome, self.scenario
        epoch = out.epoch_ms or 0
        end_ms = epoch + round(out.sim_s * 1000)
        events = recorder.twin_events()
        out.episodes = fault_episodes((e.t_ms, e.kind, e.machine_id, e.fault, e.source) for e in events)
        seen = watch.alert_arrivals()
        out.alerts = [
            AlertSpan(a.alert_id, a.machine_id, a.kind, a.raised_ms, a.cleared_ms, seen.get(a.alert_id))
            for a in probe.alerts()
        ]
        scope = {p.agent_id: frozenset(p.machines) | frozenset(p.camera_ids) for p in plans}
        out.outages = outages(
            out.played,
            epoch_ms=epoch,
            end_s=out.sim_s,
            margin_s=spec.expectations.completeness.outage_margin_s,
            agent_scope=scope,
        )
        stored: dict[tuple[str, str], Any] = {}
        for i in range(0, len(served_machines), QUERY_CHUNK):
            stored.update(probe.telemetry(served_machines[i : i + QUERY_CHUNK], CHANNELS))
        vision = spec.edge.detector is not None and bool(served_cameras)
        cameras = set(served_cameras)
        probed = watch.arrivals()
        out.scores = score_run(
            Observations(
                epoch_ms=epoch,
                end_ms=end_ms,
                machines=len(served_machines),
                episodes=out.episodes,
                alerts=out.alerts,
                outages=out.outages,
                expected_samples=recorder.expected(),
                stored_samples=stored,
                timeline=recorder.timeline(),
                probe_arrivals=probed,
                vision=vision,
                expected_frames=recorder.expected_frames() if vision else None,
                stored_frames=probe.inspections(served_cameras) if vision else None,
                frames=[f for f in recorder.frame_truths() if f.camera_id in cameras],
                detections=observer.snapshot_detections(),
            ),
            spec.expectations,
        )
        out.checks = evaluate(spec.expectations, out.scores)
        out.truth_messages = dict(observer.truth_messages)
        out.polls = watch.polls
        stamped, probe_total = len(probed), watch.probe_expected()
        if stamped < probe_total:
            out.notes.append(
                f"telemetry latency covers {stamped} of {probe_total} probe samples: the others arrived "
                "after the watch ended (or never), so the percentiles understate the tail"
            )
        out.notes.extend(f"storage poll failed: {f}" for f in watch.failures[:5])


def _validate_agent_config(config: dict[str, Any], agent_id: str) -> None:
    """Raise HarnessError when an agent's edge.yaml would not load."""
    from edge.settings import AgentSettings

    try:
        AgentSettings(**config)
    except ValueError as exc:
        raise HarnessError(f"edge.yaml of {agent_id} does not validate: {exc}") from exc
