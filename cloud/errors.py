"""The cloud package's errors, translated at the adapters so callers never see third-party types.

    CloudError                     base; ``retriable`` says whether trying again may succeed
    ├── ConfigError                bad settings or an unknown URL scheme (not retriable)
    ├── DecodeError                a message that cannot be decoded or normalized (not retriable)
    ├── AlertActionError           an operator action that does not apply to the alert (not retriable)
    ├── StateCodecError            a stored processing state that cannot be read back (not retriable)
    ├── StorageError               a storage backend failed
    │   ├── StorageUnavailable     the backend is unreachable or overloaded (retriable)
    │   └── StorageRejected        the backend refused the data or the query (not retriable)
    └── BusError                   Kafka or MQTT failed
        ├── BusUnavailable         broker unreachable, timed out, not enough replicas (retriable)
        └── BusRejected            authorization, message too large, bad topic (not retriable)

Adapters raise these with ``raise ... from exc``; retry loops only look at ``retriable``.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error raised by the cloud package."""

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class ConfigError(CloudError):
    """Settings that cannot work: an unknown scheme, a missing token, contradictory values."""


class DecodeError(CloudError):
    """A message that cannot be decoded or normalized; it belongs on the dead-letter topic."""

    def __init__(self, message: str, *, reason: str = "decode_error") -> None:
        super().__init__(message)
        self.reason = reason


class AlertActionError(CloudError):
    """An operator action that does not apply: unknown alert, or not allowed in its state."""


class StateCodecError(CloudError):
    """A stored processing state that cannot be decoded."""


class StorageError(CloudError):
    """A storage backend failed."""


class StorageUnavailable(StorageError):
    """The storage backend is unreachable, timed out or asked us to back off."""

    retriable = True


class StorageRejected(StorageError):
    """The storage backend refused the write or the query; retrying will not help."""


class BusError(CloudError):
    """The message bus (Kafka or MQTT) failed."""


class BusUnavailable(BusError):
    """The broker is unreachable or temporarily unable to accept messages."""

    retriable = True


class BusRejected(BusError):
    """The broker refused the request; retrying will not help."""
