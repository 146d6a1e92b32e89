"""The demo's setup: options, shipped models, data folder, ports and logging; no component runs here."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from iiot.demo_plan import ModelTiming

DEMO_USER = "operator"
DEMO_PASSWORD = "iiot-demo"
"""The dashboard's demo login (operator role). The dashboard listens on loopback only."""
DEFAULT_SPEED = 60.0
DEFAULT_PORT = 8080
FIRST_ALERT_PROMISE_S = 60
"""What docs/DEMO.md promises: the first alert within this many seconds of `iiot demo` starting."""
DB_NAME = "iiot-demo.sqlite"
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "models" / "artifacts"
CPU_BACKEND = {"kind": "onnxruntime", "providers": ["CPUExecutionProvider"], "intra_op_threads": 1}
TELEMETRY_DEADBANDS = {
    "temperature_c": 0.5,
    "current_a": 1.0,
    "speed_rpm": 50.0,
    "vib_rms_g": 0.02,
    "vib_kurtosis": 0.5,
    "vib_crest": 0.5,
    "vib_1x_g": 0.02,
    "vib_2x_g": 0.01,
    "vib_bpfo_env": 0.002,
    "vib_bpfi_env": 0.002,
    "pressure_bar": 0.1,
    "flow_m3h": 2.5,
}
"""About twice each channel's sample-to-sample noise: trends go out, noise stays on the edge."""
READY_TIMEOUT_S = 60.0


class DemoError(Exception):
    """The demo cannot start or a component failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """The command line, as values."""

    speed: float = DEFAULT_SPEED
    duration_s: float | None = None
    port: int | None = None
    data_dir: Path = field(default_factory=lambda: default_data_dir())
    view: bool = True
    seed: int = 0
    host: str = "127.0.0.1"
    models: Path = ARTIFACTS
    stack: bool = False


@dataclass(frozen=True, slots=True)
class Artifact:
    """A shipped model: its manifest, or why the demo runs without it."""

    pipeline: str
    manifest: Path | None
    problem: str = ""
    label: str = ""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/iiot/demo`` (``~/.local/share/iiot/demo``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "iiot" / "demo"


TASKS = {"detector": "detect", "fault": "fault"}


def find_artifact(pipeline: str, folder: Path) -> Artifact:
    """The verified manifest in ``folder`` (fp32 preferred), or an Artifact saying what is wrong."""
    from edge.inference.factory import load_verified

    rel = _shown(folder)
    manifests = sorted(folder.glob("*.manifest.json"))
    if not manifests:
        return Artifact(pipeline, None, f"no {rel}/*.manifest.json")
    problems = []
    ranked = sorted(manifests, key=lambda p: ("int8" in p.name, "fp16" in p.name, p.name))
    for path in ranked:
        try:
            manifest, _ = load_verified(path)
        except Exception as exc:  # a broken artifact must not stop the other pipeline
            problems.append(f"{_shown(path)}: {exc}")
            continue
        if manifest.task != TASKS[pipeline]:
            problems.append(f"{_shown(path)}: a {manifest.task} model, not a {TASKS[pipeline]} model")
            continue
        return Artifact(pipeline, path, label=f"{manifest.name} {manifest.version} ({_shown(path)})")
    return Artifact(pipeline, None, "; ".join(problems))


def model_timing(manifest_path: Path) -> ModelTiming:
    """Window length and feature step of a fault model."""
    from proto.artifacts import load_manifest

    manifest = load_manifest(manifest_path)
    norm = manifest.normalization
    window = int(getattr(norm, "window_length", 0) or 1)
    step = float(manifest.metrics.get("feature_step_s", 0.0) or 0.0)
    return ModelTiming(window, step)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def fresh_data_dir(path: Path) -> None:
    """Create the folder; remove what a previous demo left (database, outboxes): each run starts clean."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", "plant-layout.json"):
            with contextlib.suppress(FileNotFoundError):
                (path / name).unlink()
        for folder in ("edge", "logs", "state"):  # outboxes; --stack: child logs, Faust state
            if (path / folder).is_dir():
                shutil.rmtree(path / folder)
    except OSError as exc:
        raise DemoError(
            f"cannot prepare the data folder {path}: {exc.strerror or exc}; try --data-dir"
        ) from exc


def pick_port(host: str, wanted: int | None) -> int:
    """``wanted`` if it is free (DemoError if not); 0: any free port; None: 8080 if free, else any."""
    from iiot.embedded_broker import free_port

    if wanted == 0:
        return free_port(host)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, wanted or DEFAULT_PORT))
            return wanted or DEFAULT_PORT
        except OSError:
            pass
    if wanted:
        raise DemoError(f"port {wanted} on {host} is in use; pass another with --port (or --port 0 for any)")
    return free_port(host)


class _BrokerAckNoise(logging.Filter):
    """Drops amqtt's complaints about late PUBACKs.

    amqtt waits 5 s at most for a subscriber's PUBACK and then logs a warning and a traceback; the
    demo's subscribers acknowledge only after they have stored a message, which on two busy cores
    can take longer. The message has been delivered by then (its PUBACK follows), so these are noise.
    """

    NOISE = ("Timeout waiting for PUBACK", "Received PUBACK for unknown pending message")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("amqtt"):
            return True
        text = record.getMessage()
        return not any(noise in text for noise in self.NOISE)


class _NameFilter(logging.Filter):
    """Drops records of the named loggers (the embedded broker's, which go to the log file only)."""

    def __init__(self, *names: str) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(self.names)


def quiet_console() -> None:
    """Errors only on the console from now on (the shutdown's routine warnings go to the log file)."""
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(max(h.level, logging.ERROR))


@contextlib.contextmanager
def demo_logging(log_file: Path, view: bool) -> Iterator[None]:
    """Everything at INFO into ``log_file``; the console gets warnings only (nothing while the view draws)."""
    root = logging.getLogger()
    saved_level = root.level
    consoles = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    consoles = [h for h in consoles if not isinstance(h, logging.FileHandler)]
    saved = [(h, h.level) for h in consoles]
    handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s")
    )
    handler.setLevel(logging.INFO)
    handler.addFilter(_BrokerAckNoise())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    broker_noise = _NameFilter("amqtt", "transitions", "aiokafka")
    for h in consoles:
        if view:
            root.removeHandler(h)
        else:
            h.setLevel(max(saved_level, logging.WARNING))
            h.addFilter(broker_noise)
    quiet = {"amqtt": logging.WARNING, "transitions": logging.WARNING, "uvicorn.error": logging.WARNING}
    saved_quiet = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for h, level in saved:
            h.setLevel(level)
            h.removeFilter(broker_noise)
            if h not in root.handlers:
                root.addHandler(h)
        for name, level in saved_quiet.items():
            logging.getLogger(name).setLevel(level)
        root.setLevel(saved_level)


class Say:
    """Lines for the person at the terminal (stdout, flushed)."""

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
