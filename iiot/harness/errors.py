"""Errors of the scenario harness.

    HarnessError                    anything the harness reports instead of a traceback
     ├── ScenarioFileError          the harness scenario file is unreadable or invalid
     ├── StackControlError          deploy/local/stack failed or a service is down (retriable)
     ├── ProcessError               a pipeline process could not be started or stopped
     ├── PipelineNotReady           the pipeline did not come up end to end in time (retriable)
     └── ObservationError           storage or the broker could not be read for scoring (retriable)

Expectations that are not met are not errors: they are results, listed in the report, and make
``iiot harness run`` exit with status 1. Errors abort the run (status 2) after everything started
has been stopped.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of the harness's errors; ``retriable`` says whether trying again may help."""

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


class ScenarioFileError(HarnessError):
    """The harness scenario file cannot be read or does not validate."""


class StackControlError(HarnessError):
    """The stack script failed, or a service the run needs is down."""

    retriable = True


class ProcessError(HarnessError):
    """A pipeline process (edge agent, bridge, worker) could not be started or stopped."""


class PipelineNotReady(HarnessError):
    """The pipeline did not carry data end to end within the readiness timeout."""

    retriable = True


class ObservationError(HarnessError):
    """Storage or the broker could not be read while observing or scoring the run."""

    retriable = True
