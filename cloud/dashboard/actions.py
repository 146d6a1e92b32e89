"""Operator actions: which apply to an alert now (pure), and the sink that carries them into the pipeline.

Why a sink: the dashboard never changes an alert itself. It hands an :class:`OperatorAction` to the
pipeline (Kafka ``alert-actions`` topic, or the embedded runner in-process); the processor applies
it with the same lifecycle code as everything else, stores the new revision and publishes it, and
that revision reaches every open dashboard through the live feed. So the processor's state, the
storage and all screens agree, and history records who did what and when.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol, runtime_checkable

from cloud.dashboard.errors import ActionRejected
from cloud.processing.alert_lifecycle import OPERATOR_TRANSITIONS
from cloud.processing.records import ActionKind, Alert, OperatorAction

ActionName = Literal["ack", "note", "shelve", "unshelve", "clear"]
ACTION_ORDER: tuple[ActionKind, ...] = (
    ActionKind.ACK,
    ActionKind.NOTE,
    ActionKind.SHELVE,
    ActionKind.UNSHELVE,
    ActionKind.CLEAR,
)
MAX_NOTE = 500
MAX_SHELVE_MIN = 24 * 60


@runtime_checkable
class AlertActionSink(Protocol):
    """Carries an operator action to the processor; returns once the transport has accepted it."""

    async def send(self, action: OperatorAction) -> None:
        """Hand over one action (idempotent by ``request_id``)."""
        ...


def allowed_actions(alert: Alert) -> tuple[ActionKind, ...]:
    """The operator actions that change or annotate the alert in its current state."""
    return tuple(
        kind
        for kind in ACTION_ORDER
        if OPERATOR_TRANSITIONS.get((kind, alert.state), "error") not in ("error", "noop")
    )


def build_action(
    alert: Alert,
    action: ActionName,
    who: str,
    now_ms: int,
    *,
    note: str = "",
    shelve_minutes: int | None = None,
    request_id: str = "",
) -> OperatorAction:
    """An action by ``who`` on ``alert``, checked against the lifecycle (:class:`ActionRejected`)."""
    kind = ActionKind(action)
    if kind not in allowed_actions(alert):
        raise ActionRejected(f"cannot {kind.value} alert {alert.alert_id}: it is {alert.state.value}")
    text = note.strip()
    if len(text) > MAX_NOTE:
        raise ActionRejected(f"a note has at most {MAX_NOTE} characters")
    if kind is ActionKind.NOTE and not text:
        raise ActionRejected("a note needs text")
    at = max(now_ms, alert.updated_ms)  # never before the revision the operator saw
    until = None
    if kind is ActionKind.SHELVE:
        if shelve_minutes is None or not 1 <= shelve_minutes <= MAX_SHELVE_MIN:
            raise ActionRejected(f"shelve for 1 to {MAX_SHELVE_MIN} minutes")
        until = at + shelve_minutes * 60_000
    return OperatorAction(
        alert_id=alert.alert_id,
        action=kind,
        who=who,
        at_ms=at,
        note=text,
        until_ms=until,
        request_id=request_id or uuid.uuid4().hex,
    )


ActionCallable = Callable[[OperatorAction], Awaitable[object] | object]


class CallableActionSink:
    """An in-process sink: calls whatever the embedded host provides (sync or async)."""

    def __init__(self, handler: ActionCallable) -> None:
        self.handler = handler

    async def send(self, action: OperatorAction) -> None:
        """Call the handler; a coroutine result is awaited."""
        result = self.handler(action)
        if inspect.isawaitable(result):
            await result
