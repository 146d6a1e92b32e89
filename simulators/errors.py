"""Errors raised by the digital twin.

    SimulatorError
    ├── PlantConfigError      the plant YAML is missing, unreadable or invalid
    ├── ScenarioError         the scenario YAML is invalid or names unknown machines
    ├── ExportError           a dataset export could not be written
    └── PublishError          the live publisher failed (``retriable`` says whether to try again)

Adapters translate third-party exceptions (paho, OSError, pydantic) into these with
``raise ... from exc`` so callers never inspect foreign exception types.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of every error the twin raises."""

    retriable: bool = False


class PlantConfigError(SimulatorError):
    """The plant description is missing, unreadable or does not validate."""


class ScenarioError(SimulatorError):
    """The scenario file is invalid or refers to unknown machines or faults."""


class ExportError(SimulatorError):
    """A dataset could not be exported."""


class PublishError(SimulatorError):
    """The live publisher could not deliver to the broker."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable
