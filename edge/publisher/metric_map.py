"""What the edge node publishes as Sparkplug metrics: declarative tables, current values, report by exception.

Devices are machines (one metric per sensor channel, plus the fault predictor's outputs) and
cameras (defect counters); the node itself carries agent-wide metrics. `DeviceCatalog` remembers
every metric ever declared and its latest value, which is what births must carry. Pure code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from proto.messages import AlarmState, Prediction
from proto.sparkplug import DataType, Metric, MetricValue, PropertyValue

ENG_UNIT = "engUnit"
"""Property that carries a metric's engineering unit in births."""
PREDICTION_PREFIX = "prediction/"
CLASS_PREFIX = "prediction/class/"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """Name, data type and unit of one metric."""

    name: str
    datatype: DataType
    unit: str = ""


@dataclass(frozen=True, slots=True)
class MetricField:
    """One metric of a record: its spec and how to read its value (None: null)."""

    spec: MetricSpec
    value_fn: Callable[[Any], MetricValue]


_ALARM_NAMES: dict[int, str] = {
    AlarmState.ALARM_STATE_UNSPECIFIED: "unknown",
    AlarmState.ALARM_STATE_NORMAL: "normal",
    AlarmState.ALARM_STATE_WARNING: "warning",
    AlarmState.ALARM_STATE_ALARM: "alarm",
}


def alarm_name(state: int) -> str:
    """'normal', 'warning', 'alarm' (or 'unknown') for an AlarmState value."""
    return _ALARM_NAMES.get(int(state), "unknown")


PREDICTION_FIELDS: tuple[MetricField, ...] = (
    MetricField(MetricSpec("prediction/fault_probability", DataType.DOUBLE), lambda p: p.fault_probability),
    MetricField(MetricSpec("prediction/fault_type", DataType.STRING), lambda p: p.fault_type),
    MetricField(
        MetricSpec("prediction/rul_s", DataType.DOUBLE, "s"),
        lambda p: p.rul_seconds if p.HasField("rul_seconds") else None,
    ),
    MetricField(MetricSpec("prediction/alarm", DataType.STRING), lambda p: alarm_name(p.alarm)),
    MetricField(MetricSpec("prediction/window_start", DataType.DATETIME), lambda p: p.window_start_ms),
    MetricField(MetricSpec("prediction/seq", DataType.UINT64), lambda p: p.seq),
    MetricField(MetricSpec("prediction/model", DataType.STRING), lambda p: p.model.name),
    MetricField(MetricSpec("prediction/model_version", DataType.STRING), lambda p: p.model.version),
)
"""A machine's fault prediction metrics, all stamped with the window's last sample time."""


def prediction_specs(class_names: Iterable[str] = ()) -> tuple[MetricSpec, ...]:
    """The prediction metrics of a machine, with one probability per fault class."""
    return (
        *(f.spec for f in PREDICTION_FIELDS),
        *(MetricSpec(CLASS_PREFIX + name, DataType.DOUBLE) for name in class_names),
    )


def prediction_metrics(prediction: Prediction) -> tuple[Metric, ...]:
    """One prediction as metrics, at the event time of its window."""
    t = prediction.timestamp_ms
    fixed = [
        Metric(f.spec.name, f.spec.datatype, f.value_fn(prediction), timestamp=t) for f in PREDICTION_FIELDS
    ]
    classes = [
        Metric(CLASS_PREFIX + name, DataType.DOUBLE, float(p), timestamp=t)
        for name, p in sorted(prediction.class_probabilities.items())
    ]
    return (*fixed, *classes)


CAMERA_COUNTERS = ("frames/processed", "frames/dropped", "defects/total")


def camera_specs(class_names: Iterable[str] = ()) -> tuple[MetricSpec, ...]:
    """A camera's metrics: its line, counters, one counter per defect class, model version."""
    return (
        MetricSpec("line", DataType.STRING),
        *(MetricSpec(name, DataType.UINT64) for name in CAMERA_COUNTERS),
        *(MetricSpec(f"defects/{name}", DataType.UINT64) for name in class_names),
        MetricSpec("model/version", DataType.STRING),
    )


NODE_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("Node Info/Agent Version", DataType.STRING),
    MetricSpec("Models/detector/version", DataType.STRING),
    MetricSpec("Models/fault/version", DataType.STRING),
    MetricSpec("Outbox/messages", DataType.INT64),
    MetricSpec("Outbox/bytes", DataType.INT64),
    MetricSpec("Outbox/dropped", DataType.INT64),
    MetricSpec("Frames/dropped", DataType.INT64),
    MetricSpec("Alarms/active", DataType.INT64),
)
"""Node-level metrics (besides bdSeq and Node Control/Rebirth, which the codec adds)."""


def metrics_from_values(
    specs: Sequence[MetricSpec], values: Mapping[str, MetricValue], timestamp: int
) -> tuple[Metric, ...]:
    """Metrics for the specs that have a value in `values`, all at one timestamp."""
    return tuple(
        Metric(s.name, s.datatype, values[s.name], timestamp=timestamp) for s in specs if s.name in values
    )


@dataclass(slots=True)
class _Entry:
    spec: MetricSpec
    value: MetricValue = None
    timestamp: int | None = None


class DeviceCatalog:
    """Every metric declared for the node (device None) and each device, with its latest value."""

    def __init__(self) -> None:
        self._devices: dict[str | None, dict[str, _Entry]] = {None: {}}

    def declare(self, device_id: str | None, specs: Iterable[MetricSpec]) -> bool:
        """Add metric definitions; True if any is new (the device then needs a new birth)."""
        entries = self._devices.setdefault(device_id, {})
        new = False
        for spec in specs:
            known = entries.get(spec.name)
            if known is None:
                entries[spec.name] = _Entry(spec)
                new = True
            elif known.spec.datatype is not spec.datatype:
                raise ValueError(
                    f"metric {spec.name!r} of {device_id or 'the node'} is {known.spec.datatype.name}, "
                    f"not {spec.datatype.name}"
                )
        return new

    def update(self, device_id: str | None, metrics: Iterable[Metric]) -> None:
        """Record the newest value of each metric (declaring unknown ones)."""
        entries = self._devices.setdefault(device_id, {})
        for metric in metrics:
            if metric.name is None:
                raise ValueError("catalog metrics need names")
            entry = entries.get(metric.name)
            if entry is None:
                entry = entries[metric.name] = _Entry(MetricSpec(metric.name, metric.datatype))
            if entry.timestamp is None or (metric.timestamp or 0) >= entry.timestamp:
                entry.value, entry.timestamp = metric.value, metric.timestamp

    def devices(self) -> tuple[str, ...]:
        """The device ids, in the order they were first seen."""
        return tuple(d for d in self._devices if d is not None)

    def names(self, device_id: str | None) -> frozenset[str]:
        """The metric names of the node or a device."""
        return frozenset(self._devices.get(device_id, {}))

    def birth_metrics(self, device_id: str | None, timestamp: int) -> tuple[Metric, ...]:
        """Every metric with its current value (null if none yet) and unit, for NBIRTH/DBIRTH."""
        out = []
        for entry in self._devices.get(device_id, {}).values():
            props = MappingProxyType({ENG_UNIT: PropertyValue(DataType.STRING, entry.spec.unit)})
            out.append(
                Metric(
                    entry.spec.name,
                    entry.spec.datatype,
                    entry.value,
                    timestamp=entry.timestamp if entry.timestamp is not None else timestamp,
                    properties=props if entry.spec.unit else MappingProxyType({}),
                )
            )
        return tuple(out)


class ReportByException:
    """Decides which samples to publish: a change beyond the deadband, or the period elapsed (event time)."""

    def __init__(
        self, deadband: float = 0.0, deadbands: Mapping[str, float] | None = None, period_ms: int = 0
    ) -> None:
        self._default = deadband
        self._deadbands = dict(deadbands or {})
        self._period = period_ms
        self._last: dict[tuple[str | None, str], tuple[MetricValue, int]] = {}

    def should_report(self, device_id: str | None, name: str, value: MetricValue, t_ms: int) -> bool:
        """True (and remembered as published) if this value must go out."""
        key = (device_id, name)
        last = self._last.get(key)
        report = last is None or self._changed(name, last[0], value) or self._due(last[1], t_ms)
        if report:
            self._last[key] = (value, t_ms)
        return report

    def _changed(self, name: str, old: MetricValue, new: MetricValue) -> bool:
        if isinstance(old, int | float) and isinstance(new, int | float) and not isinstance(new, bool):
            if math.isnan(float(old)) or math.isnan(float(new)):
                return not (math.isnan(float(old)) and math.isnan(float(new)))
            return abs(float(new) - float(old)) > self._deadbands.get(name, self._default)
        return bool(old != new)

    def _due(self, last_ms: int, t_ms: int) -> bool:
        return self._period > 0 and t_ms - last_ms >= self._period


def sample_metrics(
    device_id: str,
    channels: Sequence[str],
    timestamps_ms: Sequence[int],
    rows: Sequence[Sequence[float]] | npt.NDArray[np.float64],
    rbe: ReportByException,
) -> tuple[Metric, ...]:
    """Sensor samples as DOUBLE metrics in chronological order, missing (NaN) values left out."""
    out = []
    for t, row in zip(timestamps_ms, rows, strict=True):
        for channel, value in zip(channels, row, strict=True):
            v = float(value)
            if math.isnan(v):
                continue
            if rbe.should_report(device_id, channel, v, int(t)):
                out.append(Metric(channel, DataType.DOUBLE, v, timestamp=int(t)))
    return tuple(out)
