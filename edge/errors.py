"""Errors of the edge agent; third-party exceptions are translated at each adapter.

    EdgeError                     base; `retriable` says whether trying again may help
    ├── ConfigError               settings that cannot work (a missing manifest, a bad source URI)
    ├── SourceError               a sensor or camera source failed (retriable: reconnect, reopen)
    ├── TransportError            the MQTT connection failed or dropped (retriable)
    │   └── ConnectRefused        the broker refused the CONNECT (bad credentials, not authorized)
    ├── OutboxError               the durable outbox could not be read or written
    ├── PipelineError             a pipeline could not turn model outputs into records
    └── ModelSwapError            a new model could not be loaded, warmed up or proved itself
                                  (the old one keeps serving)

Inference errors live in `edge.inference.errors` and are not wrapped: the model slot catches
them to roll back, pipelines let them surface. Errors carry the original as __cause__.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of all edge agent errors."""

    retriable: bool = False


class ConfigError(EdgeError):
    """The settings describe something that cannot be built."""


class SourceError(EdgeError):
    """A source of samples or frames failed; it may work again after a reconnect or reopen."""

    retriable = True


class TransportError(EdgeError):
    """The MQTT transport failed; the publisher reconnects with backoff."""

    retriable = True


class ConnectRefused(TransportError):
    """The broker refused the connection (bad credentials or not authorized); retried slowly."""


class OutboxError(EdgeError):
    """The SQLite outbox failed (disk full, corrupt file)."""


class PipelineError(EdgeError):
    """Model outputs that do not fit what the pipeline expects."""


class ModelSwapError(EdgeError):
    """A candidate model failed to load, warm up, or serve; the previous model stays."""
