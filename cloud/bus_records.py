"""Outbound bus records (Kafka or in-process) and the dead letters for input that cannot be used."""

from __future__ import annotations

from dataclasses import dataclass

from proto import kafka
from proto import messages as m
from proto.codec import encode


@dataclass(frozen=True, slots=True)
class BusRecord:
    """One record for a topic: key, value, event-time timestamp (ms) and headers."""

    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> bytes | None:
        """The first header with this name."""
        return next((v for k, v in self.headers if k == name), None)


def dead_letter(
    payload: bytes,
    *,
    source_topic: str,
    reason: str,
    error: BaseException | None,
    received_ms: int,
    source: str,
    key: bytes = b"",
    prefix: str = "",
) -> BusRecord:
    """A DeadLetter record keeping the raw bytes, with the reason also in headers."""
    error_class = type(error).__name__ if error is not None else ""
    error_message = str(error)[:2000] if error is not None else ""
    letter = m.DeadLetter(
        payload=bytes(payload),
        topic=source_topic,
        reason=reason,
        error_class=error_class,
        error_message=error_message,
        received_ms=received_ms,
        source=source,
        key=key,
    )
    headers = (
        (kafka.HEADER_REASON, reason.encode()),
        (kafka.HEADER_ERROR, f"{error_class}: {error_message}"[:500].encode()),
        (kafka.HEADER_SOURCE_TOPIC, source_topic.encode()),
        kafka.schema_header(m.DeadLetter),
    )
    return BusRecord(
        kafka.prefixed(kafka.DEAD_LETTERS, prefix),
        key or source_topic.encode(),
        encode(letter),
        received_ms,
        headers,
    )
