"""The alert lifecycle as pure transitions: ``(book, event) -> (book, emitted alert updates)``.

States and what moves them (``system`` = rule conditions and event time, the rest = operators)::

                 raise (new episode, or reopen within reopen_within_ms of a clear)
                   │
                   ▼          ack                     shelve(until)
     ┌──────────▶ ACTIVE ─────────────▶ ACKNOWLEDGED ───────────────┐
     │             │  ▲   ◀───────────── (escalation)               ▼
     │             │  └──────── unshelve / until reached ──────── SHELVED
     │             │ condition cleared / operator clear               │
     │             ▼                                                  │
     └─ reopen ── CLEARED ◀───────────────────────────────────────────┘

One open alert per (source, kind). Repeated raises of an open alert only bump its ``count``
(flood control) and emit at most every ``update_interval_ms`` of event time, unless the severity
escalates. Alert ids derive from (source, kind, episode start), so reprocessing yields the same ids,
and each emitted update carries a growing ``revision`` so stores keep the newest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from cloud.errors import AlertActionError
from cloud.processing.records import (
    SYSTEM,
    ActionKind,
    ActionRecord,
    Alert,
    AlertState,
    Condition,
    ConditionCleared,
    ConditionRaised,
    OperatorAction,
    Tick,
)

AlertKey = tuple[str, str]  # (source, kind)
Outcome = AlertState | Literal["noop", "record", "error"]

# (operator action, current state) -> new state, or "record" (history only), "noop", "error".
OPERATOR_TRANSITIONS: Mapping[tuple[ActionKind, AlertState], Outcome] = {
    (ActionKind.ACK, AlertState.ACTIVE): AlertState.ACKNOWLEDGED,
    (ActionKind.ACK, AlertState.ACKNOWLEDGED): "noop",
    (ActionKind.ACK, AlertState.SHELVED): "error",
    (ActionKind.ACK, AlertState.CLEARED): "record",
    (ActionKind.NOTE, AlertState.ACTIVE): "record",
    (ActionKind.NOTE, AlertState.ACKNOWLEDGED): "record",
    (ActionKind.NOTE, AlertState.SHELVED): "record",
    (ActionKind.NOTE, AlertState.CLEARED): "record",
    (ActionKind.SHELVE, AlertState.ACTIVE): AlertState.SHELVED,
    (ActionKind.SHELVE, AlertState.ACKNOWLEDGED): AlertState.SHELVED,
    (ActionKind.SHELVE, AlertState.SHELVED): AlertState.SHELVED,
    (ActionKind.SHELVE, AlertState.CLEARED): "error",
    (ActionKind.UNSHELVE, AlertState.ACTIVE): "error",
    (ActionKind.UNSHELVE, AlertState.ACKNOWLEDGED): "error",
    (ActionKind.UNSHELVE, AlertState.SHELVED): AlertState.ACTIVE,
    (ActionKind.UNSHELVE, AlertState.CLEARED): "error",
    (ActionKind.CLEAR, AlertState.ACTIVE): AlertState.CLEARED,
    (ActionKind.CLEAR, AlertState.ACKNOWLEDGED): AlertState.CLEARED,
    (ActionKind.CLEAR, AlertState.SHELVED): AlertState.CLEARED,
    (ActionKind.CLEAR, AlertState.CLEARED): "noop",
}


def alert_id_for(source: str, kind: str, episode_start_ms: int) -> str:
    """Stable id of one episode of (source, kind)."""
    text = f"{source}\x1f{kind}\x1f{episode_start_ms}"
    return hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest()


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """Flood control and escalation settings."""

    update_interval_ms: int = 60_000
    reopen_within_ms: int = 0
    escalation_reactivates: bool = True
    history_limit: int = 100


@dataclass(frozen=True, slots=True)
class AlertBook:
    """Open alerts, and the last cleared episode, per (source, kind)."""

    open: Mapping[AlertKey, Alert] = field(default_factory=dict)
    closed: Mapping[AlertKey, Alert] = field(default_factory=dict)

    def find(self, alert_id: str) -> Alert | None:
        """The open or last-cleared alert with this id."""
        for alert in (*self.open.values(), *self.closed.values()):
            if alert.alert_id == alert_id:
                return alert
        return None


LifecycleEvent = ConditionRaised | ConditionCleared | OperatorAction | Tick


class AlertLifecycle:
    """Applies conditions, operator actions and event-time ticks to an :class:`AlertBook`."""

    def __init__(self, policy: LifecyclePolicy | None = None) -> None:
        self.policy = policy or LifecyclePolicy()

    def step(self, book: AlertBook, event: LifecycleEvent) -> tuple[AlertBook, tuple[Alert, ...]]:
        """Dispatch one event."""
        if isinstance(event, OperatorAction):
            return self.on_action(book, event)
        if isinstance(event, Tick):
            return self.on_tick(book, event.ts_ms)
        return self.on_condition(book, event)

    # ----------------------------------------------------------------- conditions

    def on_condition(self, book: AlertBook, condition: Condition) -> tuple[AlertBook, tuple[Alert, ...]]:
        """A rule raised or cleared (source, kind)."""
        key = (condition.source, condition.kind)
        current = book.open.get(key)
        if isinstance(condition, ConditionCleared):
            if current is None:
                return book, ()
            cleared = self._emit(
                current,
                condition.ts_ms,
                state=AlertState.CLEARED,
                cleared_ms=condition.ts_ms,
                shelved_until_ms=None,
                history=self._log(
                    current, ActionRecord(ActionKind.CLEAR, SYSTEM, condition.ts_ms, condition.message)
                ),
            )
            return _close(book, key, cleared), (cleared,)
        if current is not None:
            return self._repeat(book, key, current, condition)
        previous = book.closed.get(key)
        if (
            previous is not None
            and self.policy.reopen_within_ms > 0
            and previous.cleared_ms is not None
            and 0 <= condition.ts_ms - previous.cleared_ms <= self.policy.reopen_within_ms
        ):
            reopened = self._emit(
                previous,
                condition.ts_ms,
                state=AlertState.ACTIVE,
                severity=condition.severity,
                count=previous.count + 1,
                last_raised_ms=condition.ts_ms,
                cleared_ms=None,
                message=condition.message,
                evidence=condition.evidence,
                history=self._log(previous, ActionRecord(ActionKind.REOPEN, SYSTEM, condition.ts_ms)),
            )
            return _open(book, key, reopened), (reopened,)
        alert = Alert(
            alert_id=alert_id_for(condition.source, condition.kind, condition.ts_ms),
            source=condition.source,
            kind=condition.kind,
            severity=condition.severity,
            state=AlertState.ACTIVE,
            episode_start_ms=condition.ts_ms,
            last_raised_ms=condition.ts_ms,
            updated_ms=condition.ts_ms,
            message=condition.message,
            evidence=condition.evidence,
            history=(ActionRecord(ActionKind.RAISE, SYSTEM, condition.ts_ms, condition.message),),
        )
        return _open(book, key, alert), (alert,)

    def _repeat(
        self, book: AlertBook, key: AlertKey, current: Alert, condition: ConditionRaised
    ) -> tuple[AlertBook, tuple[Alert, ...]]:
        escalated = condition.severity > current.severity
        state = current.state
        history = current.history
        if escalated:
            history = self._log(
                current, ActionRecord(ActionKind.ESCALATE, SYSTEM, condition.ts_ms, condition.severity.label)
            )
            if state is AlertState.ACKNOWLEDGED and self.policy.escalation_reactivates:
                state = AlertState.ACTIVE
        bumped = replace(
            current,
            state=state,
            severity=max(current.severity, condition.severity),
            count=current.count + 1,
            last_raised_ms=max(current.last_raised_ms, condition.ts_ms),
            message=condition.message or current.message,
            evidence=condition.evidence or current.evidence,
            history=history,
        )
        due = condition.ts_ms - current.updated_ms >= self.policy.update_interval_ms
        if state is AlertState.SHELVED or not (escalated or due):
            return _open(book, key, bumped), ()
        emitted = self._emit(bumped, condition.ts_ms)
        return _open(book, key, emitted), (emitted,)

    # ----------------------------------------------------------------- operators

    def on_action(self, book: AlertBook, action: OperatorAction) -> tuple[AlertBook, tuple[Alert, ...]]:
        """An operator acknowledged, annotated, shelved, unshelved or cleared an alert."""
        alert = book.find(action.alert_id)
        if alert is None:
            raise AlertActionError(f"no alert {action.alert_id!r} to {action.action.value}")
        record = ActionRecord(action.action, action.who, action.at_ms, action.note, action.until_ms)
        if record in alert.history:
            return book, ()  # the same action replayed
        outcome = OPERATOR_TRANSITIONS.get((action.action, alert.state), "error")
        if outcome == "error":
            raise AlertActionError(
                f"cannot {action.action.value} alert {alert.alert_id} in state {alert.state.value}"
            )
        if outcome == "noop":
            return book, ()
        if not action.who:
            raise AlertActionError(f"{action.action.value} on {alert.alert_id} needs who")
        if action.action is ActionKind.NOTE and not action.note.strip():
            raise AlertActionError(f"a note on {alert.alert_id} needs text")
        if action.action is ActionKind.SHELVE and (
            action.until_ms is None or action.until_ms <= action.at_ms
        ):
            raise AlertActionError(f"shelving {alert.alert_id} needs an until time after {action.at_ms}")
        key = (alert.source, alert.kind)
        at = max(alert.updated_ms, action.at_ms)
        history = self._log(alert, record)
        if outcome == "record":
            updated = self._emit(alert, at, history=history)
            if alert.is_open:
                return _open(book, key, updated), (updated,)
            return AlertBook(book.open, {**book.closed, key: updated}), (updated,)
        new_state = outcome
        if new_state is AlertState.CLEARED:
            cleared = self._emit(
                alert, at, state=new_state, cleared_ms=action.at_ms, shelved_until_ms=None, history=history
            )
            return _close(book, key, cleared), (cleared,)
        until = action.until_ms if new_state is AlertState.SHELVED else None
        updated = self._emit(alert, at, state=new_state, shelved_until_ms=until, history=history)
        return _open(book, key, updated), (updated,)

    # ----------------------------------------------------------------- time

    def on_tick(self, book: AlertBook, now_ms: int) -> tuple[AlertBook, tuple[Alert, ...]]:
        """Event time reached ``now_ms``: shelves that ran out return to active."""
        expired = [
            a
            for a in book.open.values()
            if a.state is AlertState.SHELVED
            and a.shelved_until_ms is not None
            and a.shelved_until_ms <= now_ms
        ]
        if not expired:
            return book, ()
        opened = dict(book.open)
        out = []
        for alert in sorted(expired, key=lambda a: (a.shelved_until_ms or 0, a.alert_id)):
            until = alert.shelved_until_ms or now_ms
            updated = self._emit(
                alert,
                max(alert.updated_ms, until),
                state=AlertState.ACTIVE,
                shelved_until_ms=None,
                history=self._log(alert, ActionRecord(ActionKind.UNSHELVE, SYSTEM, until, "shelve expired")),
            )
            opened[(alert.source, alert.kind)] = updated
            out.append(updated)
        return AlertBook(opened, book.closed), tuple(out)

    # ----------------------------------------------------------------- helpers

    def _log(self, alert: Alert, record: ActionRecord) -> tuple[ActionRecord, ...]:
        history = (*alert.history, record)
        limit = self.policy.history_limit
        return history if len(history) <= limit else (history[0], *history[len(history) - limit + 1 :])

    @staticmethod
    def _emit(alert: Alert, at_ms: int, **changes: object) -> Alert:
        return replace(alert, updated_ms=max(alert.updated_ms, at_ms), revision=alert.revision + 1, **changes)  # type: ignore[arg-type]


def _open(book: AlertBook, key: AlertKey, alert: Alert) -> AlertBook:
    return AlertBook({**book.open, key: alert}, book.closed)


def _close(book: AlertBook, key: AlertKey, alert: Alert) -> AlertBook:
    opened = dict(book.open)
    opened.pop(key, None)
    return AlertBook(opened, {**book.closed, key: alert})
