"""The one settings object of the edge agent: edge.yaml, then IIOT_EDGE_* environment variables.

Every field is declared once with its default and help; its environment variable follows from
the prefix and the nesting (`IIOT_EDGE_MQTT__HOST`, `IIOT_EDGE_OUTBOX__MAX_BYTES`). Environment
variables override the file. Only the entry point calls `load_settings`; everything below it
takes the typed objects (or the value objects they map to).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from edge.errors import ConfigError
from edge.inference.options import BackendOptions, OrtOptions, TensorRTOptions
from proto.errors import TopicError
from proto.topics import check_id as _check_topic_id

ENV_PREFIX = "IIOT_EDGE_"
ENV_NESTED_DELIMITER = "__"


def check_id(value: str, what: str = "id") -> str:
    """A topic-level id, or ValueError (which pydantic reports with the field name)."""
    try:
        return _check_topic_id(value, what)
    except TopicError as exc:
        raise ValueError(str(exc)) from exc


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttSettings(_Section):
    """Connection to the broker the Sparkplug node publishes to."""

    host: str = Field(default="localhost", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    tls: bool = Field(default=False, description="Connect with TLS.")
    ca_file: Path | None = Field(default=None, description="CA certificate for TLS (none: the system store).")
    cert_file: Path | None = Field(default=None, description="Client certificate for mutual TLS.")
    key_file: Path | None = Field(default=None, description="Client private key for mutual TLS.")
    username: str | None = Field(default=None, description="User name (none: anonymous).")
    password: SecretStr | None = Field(default=None, description="Password.")
    client_id: str | None = Field(default=None, description="MQTT client id (none: '<group>-<edge node>').")
    protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT protocol version.")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval.")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="How long to wait for the CONNACK.")
    reconnect_min_s: float = Field(
        default=0.5, gt=0, description="First reconnect delay; doubles per failure."
    )
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay.")
    inflight_window: int = Field(
        default=32,
        ge=1,
        le=65535,
        description="Unacknowledged QoS 1 messages at most; more wait in the outbox.",
    )
    primary_host_id: str | None = Field(
        default=None, description="Sparkplug primary host id: wait for its STATE online before births."
    )

    @field_validator("primary_host_id")
    @classmethod
    def _host_id(cls, value: str | None) -> str | None:
        return None if value is None else check_id(value, "primary_host_id")


class BackendSettings(_Section):
    """Which inference backend runs a model, and its options."""

    kind: Literal["auto", "onnxruntime", "tensorrt"] = Field(
        default="auto", description="auto: TensorRT when possible, else ONNX Runtime."
    )
    providers: tuple[str, ...] = Field(
        default=("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
        description="ONNX Runtime providers in order of preference.",
    )
    intra_op_threads: int = Field(
        default=0, ge=0, description="ONNX Runtime intra-op threads (0: it decides)."
    )
    spin_wait: bool = Field(
        default=False,
        description="ONNX Runtime threads busy-wait between runs (off: CPU left to decode, NMS, ...).",
    )
    precision: Literal["fp32", "fp16", "int8"] = Field(default="fp16", description="TensorRT precision.")
    engine_cache_dir: Path = Field(
        default=Path("var/engines"), description="Where TensorRT engines are cached."
    )
    build_engine_if_missing: bool = Field(
        default=True, description="Build a missing TensorRT engine on first use."
    )
    max_batch: int = Field(default=8, ge=1, description="Largest batch a TensorRT engine is built for.")
    calibration_images: Path | None = Field(
        default=None, description="Folder of images for INT8 calibration."
    )

    def options(self) -> BackendOptions:
        """The value objects the inference factory takes."""
        return BackendOptions(
            onnxruntime=OrtOptions(
                providers=self.providers,
                intra_op_threads=self.intra_op_threads,
                allow_spinning=self.spin_wait,
                trt_precision=self.precision,
                trt_cache_dir=self.engine_cache_dir,
            ),
            tensorrt=TensorRTOptions(
                cache_dir=self.engine_cache_dir,
                precision=self.precision,
                opt_batch=self.max_batch,
                max_batch=self.max_batch,
                build_if_missing=self.build_engine_if_missing,
                calibration_images=self.calibration_images,
            ),
        )


class TwinSourceSettings(_Section):
    """The digital twin over MQTT: sensor batches and JPEG frames under twin/v1/{site}/{line}/..."""

    kind: Literal["twin"] = "twin"
    site_id: str = Field(description="Twin site id.")
    line_ids: tuple[str, ...] = Field(default=("+",), description="Lines to subscribe to ('+': all).")
    sensors: bool = Field(default=True, description="Subscribe to sensor batches.")
    frames: bool = Field(default=True, description="Subscribe to camera frames.")
    cameras: tuple[str, ...] = Field(default=(), description="Only these cameras' frames (empty: all).")
    mqtt: MqttSettings | None = Field(
        default=None, description="Broker of the twin (none: the agent's broker)."
    )


class OpenCVSourceSettings(_Section):
    """A camera read with OpenCV: device index, video file, RTSP/HTTP URL or GStreamer pipeline."""

    kind: Literal["opencv"] = "opencv"
    camera_id: str = Field(description="Sparkplug device id of the camera.")
    line_id: str = Field(description="Production line the camera watches.")
    machine_id: str = Field(default="", description="Machine whose parts the camera sees, if one.")
    uri: str = Field(
        description="'0' (device index), a file, rtsp://..., or a GStreamer pipeline ending in appsink."
    )
    width: int | None = Field(default=None, gt=0, description="Requested capture width.")
    height: int | None = Field(default=None, gt=0, description="Requested capture height.")
    fps: float | None = Field(default=None, gt=0, description="Read at most this many frames per second.")
    loop: bool = Field(default=False, description="Start a video file again at its end.")
    reopen_s: float = Field(default=2.0, gt=0, description="Delay before reopening a failed capture.")

    @field_validator("camera_id", "line_id")
    @classmethod
    def _ids(cls, value: str) -> str:
        return check_id(value)


SourceSettings = Annotated[TwinSourceSettings | OpenCVSourceSettings, Field(discriminator="kind")]


class DetectorSettings(_Section):
    """The vision pipeline: detector artifact, batching across cameras, events."""

    manifest: Path = Field(description="Manifest of the detector artifact (ONNX beside it).")
    backend: BackendSettings = Field(default=BackendSettings(), description="Inference backend.")
    max_batch: int = Field(default=4, ge=1, description="Frames per inference batch at most.")
    max_wait_ms: float = Field(default=20.0, ge=0, description="Longest wait for a batch to fill.")
    queue_per_camera: int = Field(
        default=2, ge=1, description="Frames waiting per camera; older ones are dropped."
    )
    conf: float | None = Field(default=None, ge=0, le=1, description="Confidence threshold (none: manifest).")
    iou: float | None = Field(default=None, ge=0, le=1, description="NMS IoU threshold (none: manifest).")
    publish_empty: bool = Field(default=False, description="Publish events for frames without detections.")
    crop: bool = Field(default=True, description="Attach a JPEG crop around the detections.")
    crop_margin: float = Field(default=0.1, ge=0, le=2, description="Crop margin as a share of the box size.")
    crop_max_side: int = Field(default=320, ge=16, description="Longest crop side in pixels (downscaled).")
    crop_quality: int = Field(default=80, ge=10, le=100, description="JPEG quality of crops.")
    probation_batches: int = Field(
        default=20, ge=1, description="Batches a new model serves before the old goes."
    )
    warmup_runs: int = Field(default=2, ge=0, description="Warm-up batches before a model serves.")
    camera_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds without frames until a camera is lost (DDEATH); its next frame births it.",
    )


class FaultSettings(_Section):
    """The fault pipeline: predictor artifact, tick, hysteresis."""

    manifest: Path = Field(description="Manifest of the fault predictor artifact.")
    backend: BackendSettings = Field(default=BackendSettings(), description="Inference backend.")
    tick_s: float = Field(default=1.0, gt=0, description="How often all ready windows run as one batch.")
    max_batch: int = Field(default=4096, ge=1, description="Windows per tick at most (the oldest wait).")
    enter: float | None = Field(
        default=None, ge=0, le=1, description="Alarm enter threshold (none: manifest)."
    )
    exit: float | None = Field(default=None, ge=0, le=1, description="Alarm exit threshold (none: manifest).")
    min_duration_s: float | None = Field(
        default=None, ge=0, description="Event time above enter before an alarm (none: manifest, else 0)."
    )
    clear_duration_s: float = Field(default=0.0, ge=0, description="Event time below exit before it clears.")
    max_gap_s: float | None = Field(
        default=None, gt=0, description="A longer gap in samples restarts windows."
    )
    pending_windows: int = Field(default=8, ge=1, description="Windows a machine may have waiting per tick.")
    probation_batches: int = Field(
        default=5, ge=1, description="Ticks a new model serves before the old goes."
    )
    warmup_runs: int = Field(default=2, ge=0, description="Warm-up batches before a model serves.")


class TelemetrySettings(_Section):
    """Sensor samples as Sparkplug DDATA: report by exception, and on period."""

    enabled: bool = Field(default=True, description="Publish sensor samples.")
    deadband: float = Field(
        default=0.0, ge=0, description="Default: publish when a value moves more than this."
    )
    deadbands: dict[str, float] = Field(default_factory=dict, description="Per-channel deadbands.")
    period_s: float = Field(default=60.0, ge=0, description="Publish unchanged values this often (0: never).")


class OutboxSettings(_Section):
    """Store-and-forward: the durable SQLite outbox and its bounds."""

    path: Path = Field(default=Path("var/edge/outbox.sqlite"), description="SQLite file (WAL mode).")
    max_bytes: int = Field(default=512 << 20, gt=0, description="Payload bytes kept at most.")
    max_messages: int = Field(default=2_000_000, gt=0, description="Messages kept at most.")
    max_age_s: float = Field(default=7 * 86400.0, gt=0, description="Older telemetry and events are dropped.")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="FULL survives power loss; NORMAL only process crashes (faster on SD cards).",
    )


class HealthSettings(_Section):
    """Prometheus metrics, liveness and readiness over HTTP."""

    enabled: bool = Field(default=True, description="Serve /metrics, /healthz and /readyz.")
    host: str = Field(default="0.0.0.0", description="Address to listen on.")
    port: int = Field(default=9108, ge=0, le=65535, description="Port (0: any free port).")
    stall_after_s: float = Field(default=30.0, gt=0, description="A worker silent this long fails liveness.")


class DeviceSettings(_Section):
    """A machine known before its first sample, so that its DBIRTH goes out at once."""

    machine_id: str = Field(description="Sparkplug device id of the machine.")
    line_id: str = Field(default="", description="Line of the machine.")
    channels: tuple[str, ...] = Field(default=(), description="Sensor channels, in order.")
    units: tuple[str, ...] = Field(default=(), description="Units of the channels, if known.")


class AgentSettings(BaseSettings):
    """Everything one edge node needs; environment variables are IIOT_EDGE_<FIELD>[__<SUBFIELD>]."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTED_DELIMITER, extra="forbid", frozen=True
    )

    group_id: str = Field(default="plant", description="Sparkplug group id.")
    edge_node_id: str = Field(default="edge-1", description="Sparkplug edge node id.")
    mqtt: MqttSettings = Field(default=MqttSettings(), description="Broker connection.")
    sources: tuple[SourceSettings, ...] = Field(default=(), description="Where samples and frames come from.")
    machines: tuple[DeviceSettings, ...] = Field(default=(), description="Machines to birth before data.")
    detector: DetectorSettings | None = Field(default=None, description="Vision pipeline (none: off).")
    fault: FaultSettings | None = Field(default=None, description="Fault pipeline (none: off).")
    telemetry: TelemetrySettings = Field(default=TelemetrySettings(), description="Sensor DDATA.")
    outbox: OutboxSettings = Field(default=OutboxSettings(), description="Store-and-forward.")
    health: HealthSettings = Field(default=HealthSettings(), description="Health endpoints.")
    node_metrics_period_s: float = Field(
        default=10.0, gt=0, description="How often node and camera metrics go out."
    )

    @field_validator("group_id", "edge_node_id")
    @classmethod
    def _ids(cls, value: str) -> str:
        return check_id(value)

    @model_validator(mode="after")
    def _unique_cameras(self) -> AgentSettings:
        cameras = [s.camera_id for s in self.sources if isinstance(s, OpenCVSourceSettings)]
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"camera ids must be unique, got {cameras}")
        return self

    @property
    def client_id(self) -> str:
        """The MQTT client id of the Sparkplug node."""
        return self.mqtt.client_id or f"{self.group_id}-{self.edge_node_id}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the file's values (passed as init arguments), then defaults."""
        return (env_settings, init_settings)


def load_settings(path: str | Path | None = None, **overrides: Any) -> AgentSettings:
    """Read edge.yaml (if given), overlay IIOT_EDGE_* variables; ConfigError says what is wrong."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read settings: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: settings must be a mapping, got {type(loaded).__name__}")
        data = loaded or {}
    data.update(overrides)
    try:
        return AgentSettings(**data)
    except ValueError as exc:
        raise ConfigError(f"{path or 'settings'}: {exc}") from exc


def describe(model: type[BaseModel] = AgentSettings, prefix: str = ENV_PREFIX) -> Iterator[tuple[str, str]]:
    """(environment variable, help) of every field, nested ones included, for `iiot edge settings`."""
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        sub = _section_type(field.annotation)
        if sub is not None:
            yield from describe(sub, env + ENV_NESTED_DELIMITER)
        else:
            default = (
                "" if field.is_required() else f" [default: {field.get_default(call_default_factory=True)!r}]"
            )
            yield env, f"{field.description or ''}{default}"


def _section_type(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, _Section):
            return candidate
    return None


def redacted(settings: AgentSettings) -> Mapping[str, Any]:
    """The settings as plain data with secrets masked, for logs and `iiot edge settings --show`."""
    return settings.model_dump(mode="json")
