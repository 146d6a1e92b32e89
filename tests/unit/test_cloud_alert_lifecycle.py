"""The alert lifecycle as pure transitions, driven by tables of conditions, operator actions and ticks."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cloud.errors import AlertActionError
from cloud.processing.alert_lifecycle import (
    OPERATOR_TRANSITIONS,
    AlertBook,
    AlertLifecycle,
    LifecycleEvent,
    LifecyclePolicy,
    alert_id_for,
)
from cloud.processing.records import (
    ActionKind,
    Alert,
    AlertState,
    ConditionCleared,
    ConditionRaised,
    OperatorAction,
    Severity,
    Tick,
)

SRC, KIND = "machine/m1", "prediction"
W, C = Severity.WARNING, Severity.CRITICAL


def up(ts: int, severity: Severity = W) -> ConditionRaised:
    return ConditionRaised(SRC, KIND, severity, ts, f"up@{ts}")


def down(ts: int) -> ConditionCleared:
    return ConditionCleared(SRC, KIND, ts)


def op(
    kind: ActionKind, at: int, *, until: int | None = None, note: str = "", alert_id: str = ""
) -> OperatorAction:
    return OperatorAction(alert_id or alert_id_for(SRC, KIND, 0), kind, "ana", at, note, until)


def run(
    events: Sequence[LifecycleEvent], policy: LifecyclePolicy | None = None
) -> tuple[AlertBook, list[Alert]]:
    lifecycle = AlertLifecycle(policy or LifecyclePolicy(update_interval_ms=1_000))
    book = AlertBook()
    out: list[Alert] = []
    for event in events:
        book, emitted = lifecycle.step(book, event)
        out.extend(emitted)
    return book, out


def brief(alerts: Sequence[Alert]) -> list[tuple[str, str, int, int]]:
    return [(a.state.value, a.severity.label, a.count, a.revision) for a in alerts]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # raise then clear: two updates of one alert
        ([up(0), down(10)], [("active", "warning", 1, 1), ("cleared", "warning", 1, 2)]),
        # a storm of repeats is one alert with a count; updates at most every 1000 ms
        (
            [up(0), up(100), up(200), up(900), up(1_000), up(1_100), down(1_200)],
            [("active", "warning", 1, 1), ("active", "warning", 5, 2), ("cleared", "warning", 6, 3)],
        ),
        # escalation is emitted at once, even inside the update interval
        ([up(0), up(10, C)], [("active", "warning", 1, 1), ("active", "critical", 2, 2)]),
        # a lower severity never de-escalates
        ([up(0, C), up(2_000, W)], [("active", "critical", 1, 1), ("active", "critical", 2, 2)]),
        # clearing something not raised emits nothing
        ([down(5)], []),
        # acknowledged, then escalation re-activates
        (
            [up(0), op(ActionKind.ACK, 5), up(10, C)],
            [("active", "warning", 1, 1), ("acknowledged", "warning", 1, 2), ("active", "critical", 2, 3)],
        ),
        # shelved alerts stay quiet while raised again, then come back when the shelve runs out
        (
            [up(0), op(ActionKind.SHELVE, 5, until=5_000), up(2_000, C), up(3_000), Tick(5_000)],
            [("active", "warning", 1, 1), ("shelved", "warning", 1, 2), ("active", "critical", 3, 3)],
        ),
        # operator unshelve
        (
            [up(0), op(ActionKind.SHELVE, 5, until=5_000), op(ActionKind.UNSHELVE, 6)],
            [("active", "warning", 1, 1), ("shelved", "warning", 1, 2), ("active", "warning", 1, 3)],
        ),
        # the condition clears a shelved alert
        (
            [up(0), op(ActionKind.SHELVE, 5, until=5_000), down(100), Tick(6_000)],
            [("active", "warning", 1, 1), ("shelved", "warning", 1, 2), ("cleared", "warning", 1, 3)],
        ),
        # operator clear, then a note on the cleared alert
        (
            [up(0), op(ActionKind.CLEAR, 5), op(ActionKind.NOTE, 6, note="replaced bearing")],
            [("active", "warning", 1, 1), ("cleared", "warning", 1, 2), ("cleared", "warning", 1, 3)],
        ),
        # replayed and no-op actions emit nothing
        (
            [
                up(0),
                op(ActionKind.ACK, 5),
                op(ActionKind.ACK, 5),
                op(ActionKind.ACK, 6),
                down(7),
                op(ActionKind.CLEAR, 8),
            ],
            [("active", "warning", 1, 1), ("acknowledged", "warning", 1, 2), ("cleared", "warning", 1, 3)],
        ),
    ],
)
def test_lifecycle(events: list[LifecycleEvent], expected: list[tuple[str, str, int, int]]) -> None:
    _, out = run(events)
    assert brief(out) == expected
    assert {a.alert_id for a in out} <= {alert_id_for(SRC, KIND, 0), alert_id_for(SRC, KIND, 5)}


def test_one_open_alert_per_source_and_kind() -> None:
    other = ConditionRaised("machine/m2", KIND, W, 1)
    book, out = run([up(0), other, up(2), ConditionRaised(SRC, "range.temperature", W, 3)])
    assert len(book.open) == 3
    assert [a.source for a in out] == [SRC, "machine/m2", SRC]


def test_new_episode_has_new_stable_id() -> None:
    _, out = run([up(0), down(10), up(20), down(30)])
    ids = [a.alert_id for a in out]
    assert ids == [alert_id_for(SRC, KIND, 0)] * 2 + [alert_id_for(SRC, KIND, 20)] * 2
    _, again = run([up(0), down(10), up(20), down(30)])
    assert again == out  # reprocessing yields the same ids and revisions


def test_reopen_within_window_continues_the_episode() -> None:
    policy = LifecyclePolicy(update_interval_ms=1_000, reopen_within_ms=500)
    _, out = run([up(0), down(10), up(400), down(1_000), up(2_000)], policy)
    assert [(a.alert_id, a.state.value, a.count) for a in out] == [
        (alert_id_for(SRC, KIND, 0), "active", 1),
        (alert_id_for(SRC, KIND, 0), "cleared", 1),
        (alert_id_for(SRC, KIND, 0), "active", 2),
        (alert_id_for(SRC, KIND, 0), "cleared", 2),
        (alert_id_for(SRC, KIND, 2_000), "active", 1),
    ]
    assert out[2].cleared_ms is None
    assert [h.action for h in out[3].history] == [
        ActionKind.RAISE,
        ActionKind.CLEAR,
        ActionKind.REOPEN,
        ActionKind.CLEAR,
    ]


def test_history_records_who_and_when() -> None:
    _, out = run([up(0), op(ActionKind.ACK, 5), op(ActionKind.NOTE, 6, note="on it"), down(9)])
    last = out[-1]
    assert [(h.action, h.who, h.at_ms, h.note) for h in last.history] == [
        (ActionKind.RAISE, "system", 0, "up@0"),
        (ActionKind.ACK, "ana", 5, ""),
        (ActionKind.NOTE, "ana", 6, "on it"),
        (ActionKind.CLEAR, "system", 9, ""),
    ]
    assert (last.episode_start_ms, last.last_raised_ms, last.cleared_ms, last.updated_ms) == (0, 0, 9, 9)


def test_history_is_bounded_and_keeps_the_raise() -> None:
    policy = LifecyclePolicy(history_limit=3)
    notes = [op(ActionKind.NOTE, i, note=f"n{i}") for i in range(1, 6)]
    _, out = run([up(0), *notes], policy)
    assert [h.note for h in out[-1].history] == ["up@0", "n4", "n5"]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([op(ActionKind.ACK, 5)], "no alert"),
        ([up(0), op(ActionKind.SHELVE, 5, until=100), op(ActionKind.ACK, 6)], "cannot ack"),
        ([up(0), op(ActionKind.UNSHELVE, 5)], "cannot unshelve"),
        ([up(0), op(ActionKind.SHELVE, 5)], "needs an until"),
        ([up(0), op(ActionKind.SHELVE, 5, until=5)], "needs an until"),
        ([up(0), op(ActionKind.NOTE, 5, note="  ")], "needs text"),
        ([up(0), down(1), op(ActionKind.SHELVE, 5, until=100)], "cannot shelve"),
        ([up(0), OperatorAction(alert_id_for(SRC, KIND, 0), ActionKind.ACK, "", 3)], "needs who"),
    ],
)
def test_invalid_actions_raise(events: list[LifecycleEvent], message: str) -> None:
    with pytest.raises(AlertActionError, match=message):
        run(events)


def test_every_operator_action_and_state_has_a_transition() -> None:
    operator = {ActionKind.ACK, ActionKind.NOTE, ActionKind.SHELVE, ActionKind.UNSHELVE, ActionKind.CLEAR}
    assert set(OPERATOR_TRANSITIONS) == {(a, s) for a in operator for s in AlertState}


def test_tick_without_shelves_is_a_no_op() -> None:
    book, _ = run([up(0)])
    same, out = AlertLifecycle().on_tick(book, 10_000)
    assert same is book
    assert out == ()
