"""Kafka adapter: an idempotent aiokafka producer (acks=all, batching) and topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cloud.bus_records import BusRecord
from cloud.errors import BusRejected, BusUnavailable

log = logging.getLogger(__name__)


# Records carry event times as timestamps, and Kafka's time retention compares those with the wall
# clock: replayed or simulated data from the past would be deleted at once. Inputs are therefore
# bounded by size, not time; alerts are compacted by alert id (the newest revision stays).
SIZE_RETAINED = {"retention.ms": "-1", "retention.bytes": str(1 << 30)}
COMPACTED = {"cleanup.policy": "compact", "retention.ms": "-1"}


def topic_configs(prefix: str = "") -> dict[str, dict[str, str]]:
    """Per-topic configuration of the pipeline's topics (declarative)."""
    from proto import kafka

    sized = (
        kafka.TELEMETRY,
        kafka.PREDICTIONS,
        kafka.DETECTIONS,
        kafka.ALERT_ACTIONS,
        kafka.DEAD_LETTERS,
        "iiot.v1.processing-control",
    )
    configs = {kafka.prefixed(t, prefix): dict(SIZE_RETAINED) for t in sized}
    configs[kafka.prefixed(kafka.ALERTS, prefix)] = dict(COMPACTED)
    return configs


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    """Producer options (a value object built from the service's settings)."""

    bootstrap: str = "127.0.0.1:9092"
    client_id: str = "iiot"
    linger_ms: int = 20
    max_batch_bytes: int = 1_048_576
    request_timeout_ms: int = 30_000


def translate(exc: Exception, what: str) -> BusUnavailable | BusRejected:
    """A Kafka exception as our bus error, keeping aiokafka's retriable flag."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    if isinstance(exc, KafkaConnectionError | asyncio.TimeoutError | OSError):
        return BusUnavailable(f"{what}: {exc!r}")
    if isinstance(exc, KafkaError) and exc.retriable:
        return BusUnavailable(f"{what}: {exc!r}")
    return BusRejected(f"{what}: {exc!r}")


class KafkaSink:
    """An idempotent producer: per-partition order and no duplicates on producer retries."""

    def __init__(self, options: KafkaOptions) -> None:
        self.options = options
        self._producer: object | None = None

    async def __aenter__(self) -> KafkaSink:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.options.bootstrap,
            client_id=self.options.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=self.options.linger_ms,
            max_batch_size=self.options.max_batch_bytes,
            request_timeout_ms=self.options.request_timeout_ms,
        )
        try:
            await producer.start()
        except Exception as exc:
            await producer.stop()
            raise translate(exc, f"Kafka producer start ({self.options.bootstrap})") from exc
        self._producer = producer
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()  # type: ignore[attr-defined]
            self._producer = None

    async def send(self, records: Sequence[BusRecord]) -> None:
        """Send all records (batched by the producer) and wait for every acknowledgement."""
        producer = self._producer
        if producer is None:
            raise BusUnavailable("Kafka producer is not started")
        try:
            futures = [
                await producer.send(  # type: ignore[attr-defined]
                    r.topic, value=r.value, key=r.key, timestamp_ms=r.timestamp_ms, headers=list(r.headers)
                )
                for r in records
            ]
            if futures:
                await asyncio.gather(*futures)
        except (BusUnavailable, BusRejected):
            raise
        except Exception as exc:
            raise translate(exc, "Kafka send") from exc


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Create missing topics with one partition count (keyed topics stay co-partitioned); return them."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            new = [
                NewTopic(t, partitions, 1, topic_configs=dict((configs or {}).get(t, {}))) for t in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            log.info("created Kafka topics %s", missing)
        return missing
    except (BusUnavailable, BusRejected):
        raise
    except Exception as exc:
        raise translate(exc, f"Kafka admin ({bootstrap})") from exc
    finally:
        await admin.close()
