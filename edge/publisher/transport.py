"""The publisher's view of MQTT: connect with a will, publish, close — and the events coming back.

Why this small: the Sparkplug session and the outbox decide what to send and when; the
transport only moves bytes. A new transport object is made for every connection, so nothing
queued in one MQTT session (with the old session's seq numbers) is ever sent in the next;
unacknowledged messages are resent from the outbox instead. Events are delivered on the
event loop that called `connect`. The paho implementation lives in `paho_transport`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edge.publisher.session import OutMessage


class TransportEvents(Protocol):
    """Callbacks of one connection, called on the event loop."""

    def on_message(self, topic: str, payload: bytes) -> None:
        """A message arrived on a subscribed topic."""
        ...

    def on_ack(self, mid: int) -> None:
        """The broker acknowledged the publish with this message id (PUBACK)."""
        ...

    def on_lost(self, reason: str) -> None:
        """The connection dropped; no further events follow."""
        ...


class Transport(Protocol):
    """One MQTT connection."""

    async def connect(self, will: OutMessage, subscriptions: Sequence[str], events: TransportEvents) -> None:
        """Connect with `will` as the MQTT will and subscribe; TransportError if that fails."""
        ...

    def publish(self, message: OutMessage) -> int:
        """Hand a message to the client; its message id. TransportError when not connected."""
        ...

    async def close(self, last: OutMessage | None = None) -> None:
        """Publish `last` (e.g. the NDEATH) and wait for it, then disconnect cleanly."""
        ...
