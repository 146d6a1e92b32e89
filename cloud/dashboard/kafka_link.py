"""The production link: alert revisions and detections from Kafka, operator actions to Kafka.

* Live feed: one consumer per dashboard process, no consumer group (every dashboard sees every
  partition), starting at the end: the pages load the current state from storage and then only
  need what changes.
* Actions: :class:`cloud.kafka_bus.KafkaSink` (idempotent, acks=all) writes ``AlertAction`` records
  to ``alert-actions`` keyed by alert id; the Faust worker routes them to the key owning the alert.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from cloud.bus_records import BusRecord
from cloud.dashboard.errors import LinkUnavailable
from cloud.dashboard.frames import frame_from_proto
from cloud.dashboard.live import LiveEvent
from cloud.errors import BusError
from cloud.kafka_bus import KafkaOptions, KafkaSink, translate
from cloud.processing.records import OperatorAction
from cloud.proto_mapping import action_to_proto, alert_from_proto
from proto import kafka
from proto import messages as m
from proto.codec import decode, encode
from proto.errors import ContractError

log = logging.getLogger(__name__)


def action_record(action: OperatorAction, prefix: str = "") -> BusRecord:
    """An operator action as the record the worker's ``route`` agent consumes."""
    return BusRecord(
        kafka.prefixed(kafka.ALERT_ACTIONS, prefix),
        kafka.record_key(action.alert_id),
        encode(action_to_proto(action)),
        action.at_ms,
        (kafka.schema_header(m.AlertAction),),
    )


def live_event(topic: str, value: bytes, prefix: str = "") -> LiveEvent | None:
    """Decode one consumed record (alerts or detections topic); None for anything else."""
    try:
        if topic == kafka.prefixed(kafka.ALERTS, prefix):
            return alert_from_proto(decode(m.Alert, value))
        if topic == kafka.prefixed(kafka.DETECTIONS, prefix):
            return frame_from_proto(decode(m.DetectionEvent, value))
    except ContractError as exc:
        log.warning("undecodable record on %s: %s", topic, exc)
    return None


class KafkaLink:
    """Consumer of alerts and detections, producer of alert actions; close with :meth:`aclose`."""

    def __init__(self, options: KafkaOptions, prefix: str = "") -> None:
        self.options = options
        self.prefix = prefix
        self._sink: KafkaSink | None = None
        self._consumer: Any = None

    async def events(self) -> AsyncGenerator[LiveEvent, None]:
        """Alert revisions and frames from now on (raises a :class:`BusError` if Kafka is unreachable)."""
        from aiokafka import AIOKafkaConsumer

        topics = (kafka.prefixed(kafka.ALERTS, self.prefix), kafka.prefixed(kafka.DETECTIONS, self.prefix))
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.options.bootstrap,
            client_id=f"{self.options.client_id}-dashboard",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        try:
            await consumer.start()
        except Exception as exc:
            await consumer.stop()
            raise translate(exc, f"Kafka consumer start ({self.options.bootstrap})") from exc
        self._consumer = consumer
        try:
            async for record in consumer:
                event = live_event(record.topic, bytes(record.value or b""), self.prefix)
                if event is not None:
                    yield event
        except BusError:
            raise
        except Exception as exc:
            raise translate(exc, "Kafka consume") from exc
        finally:
            self._consumer = None
            await consumer.stop()

    async def send(self, action: OperatorAction) -> None:
        """Publish one action and wait for the broker's acknowledgement."""
        try:
            if self._sink is None:
                self._sink = await KafkaSink(self.options).__aenter__()
            await self._sink.send([action_record(action, self.prefix)])
        except BusError as exc:
            raise LinkUnavailable(f"cannot pass the action to Kafka: {exc}") from exc

    async def aclose(self) -> None:
        """Stop the producer and the consumer."""
        if self._sink is not None:
            await self._sink.__aexit__(None, None, None)
            self._sink = None
        if self._consumer is not None:
            await self._consumer.stop()
