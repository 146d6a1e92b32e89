"""A scripted Sparkplug B edge node: the MQTT messages a real one publishes, for tests, benches and demos.

It speaks the contract the bridge expects (births with aliases, DATA by alias, seq per node, NDEATH
with the session's bdSeq, detection events) without any broker: each call returns (topic, payload).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from proto import messages as m
from proto.codec import encode
from proto.sparkplug import (
    AliasTable,
    DataType,
    MessageType,
    Metric,
    SequenceCounter,
    build_topic,
    encode_dbirth,
    encode_ddata,
    encode_ddeath,
    encode_nbirth,
    encode_ndata,
    encode_ndeath,
)
from proto.topics import detections_topic

Message = tuple[str, bytes]
Scalar = float | int | bool | str | None


def _datatype(value: Scalar) -> DataType:
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INT64
    if isinstance(value, str):
        return DataType.STRING
    return DataType.DOUBLE


class EdgeNodeScript:
    """One edge node with machine devices; metric types come from the first value of each metric."""

    def __init__(
        self, group: str, edge_node: str, devices: Mapping[str, Mapping[str, Scalar]], bd_seq: int = 0
    ) -> None:
        self.group = group
        self.edge_node = edge_node
        self.devices = {d: dict(metrics) for d, metrics in devices.items()}
        self.bd_seq = bd_seq
        self.seq = SequenceCounter()
        self.aliases = AliasTable()

    def birth(self, ts: int) -> list[Message]:
        """NBIRTH and one DBIRTH per device, with aliases assigned."""
        self.aliases.clear()
        out = [
            (
                self._topic(MessageType.NBIRTH),
                encode_nbirth([], bd_seq=self.bd_seq, timestamp=ts, seq=self.seq.birth()),
            )
        ]
        for device, metrics in self.devices.items():
            birth = self.aliases.aliased(
                [Metric(name, _datatype(v), v, timestamp=ts) for name, v in metrics.items()], device
            )
            out.append(
                (
                    self._topic(MessageType.DBIRTH, device),
                    encode_dbirth(birth, seq=self.seq.next(), timestamp=ts),
                )
            )
        return out

    def data(
        self, device: str, values: Mapping[str, Scalar], ts: int, *, historical: bool = False
    ) -> Message:
        """DDATA by alias for metrics declared in the device's birth."""
        metrics = []
        for name, value in values.items():
            entry = self.aliases.entry_by_name(name, device)
            metrics.append(
                Metric(None, entry.datatype, value, alias=entry.alias, timestamp=ts, is_historical=historical)
            )
        return self._topic(MessageType.DDATA, device), encode_ddata(
            metrics, seq=self.seq.next(), timestamp=ts
        )

    def samples(
        self, device: str, rows: Sequence[tuple[int, Mapping[str, Scalar]]], *, historical: bool = False
    ) -> Message:
        """One DDATA with a block of samples, each metric stamped with its sample time (as the edge sends)."""
        metrics = []
        for ts, values in rows:
            for name, value in values.items():
                entry = self.aliases.entry_by_name(name, device)
                metrics.append(
                    Metric(
                        None, entry.datatype, value, alias=entry.alias, timestamp=ts, is_historical=historical
                    )
                )
        stamp = rows[-1][0] if rows else 0
        return self._topic(MessageType.DDATA, device), encode_ddata(
            metrics, seq=self.seq.next(), timestamp=stamp
        )

    def node_data(self, values: Mapping[str, Scalar], ts: int) -> Message:
        """NDATA with named, typed metrics."""
        metrics = [Metric(name, _datatype(v), v, timestamp=ts) for name, v in values.items()]
        return self._topic(MessageType.NDATA), encode_ndata(
            metrics, seq=self.seq.next(), timestamp=ts, include_datatypes=True
        )

    def device_death(self, device: str, ts: int) -> Message:
        """DDEATH of one device."""
        return self._topic(MessageType.DDEATH, device), encode_ddeath(seq=self.seq.next(), timestamp=ts)

    def death(self, ts: int | None = None) -> Message:
        """NDEATH (normally the MQTT will) of the current session; the next birth starts a new bdSeq."""
        message = self._topic(MessageType.NDEATH), encode_ndeath(self.bd_seq, timestamp=ts)
        self.bd_seq = (self.bd_seq + 1) % 256
        return message

    def skip(self, n: int = 1) -> None:
        """Lose n messages' worth of seq, as a dropped connection would."""
        for _ in range(n):
            self.seq.next()

    def detection(
        self,
        camera: str,
        ts: int,
        seq: int,
        boxes: Sequence[tuple[str, float]] = (),
        *,
        line: str = "L1",
        machine: str = "",
        size: tuple[int, int] = (640, 480),
    ) -> Message:
        """A DetectionEvent with one box per (class name, score)."""
        event = m.DetectionEvent(
            group_id=self.group,
            edge_node=self.edge_node,
            camera_id=camera,
            line_id=line,
            machine_id=machine,
            timestamp_ms=ts,
            seq=seq,
            image_width=size[0],
            image_height=size[1],
        )
        for i, (label, score) in enumerate(boxes):
            event.detections.append(
                m.Detection(class_id=i, class_name=label, score=score, box=m.Box(x1=10, y1=10, x2=50, y2=60))
            )
        return detections_topic(self.group, self.edge_node, camera), encode(event)

    def _topic(self, kind: MessageType, device: str | None = None) -> str:
        return build_topic(self.group, kind, self.edge_node, device)
