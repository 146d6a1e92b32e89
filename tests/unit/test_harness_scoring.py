"""Harness scoring on hand-made values: fault episodes, flagged faults and lead times, false alerts,
completeness by identity, latency percentiles and emission times."""

from __future__ import annotations

import numpy as np
import pytest

from iiot.harness.influx_probe import parse_times_ms, rows_to_series
from iiot.harness.records import AlertSpan, FaultEpisode, Outage
from iiot.harness.scoring import (
    arrivals,
    completeness,
    fault_episodes,
    kind_matches,
    latency_stats,
    score_faults,
    sent_wall,
)

S = 1000  # ms per second
DAY = 86_400_000


def alert(machine: str, raised_s: float, kind: str = "prediction", aid: str | None = None) -> AlertSpan:
    return AlertSpan(aid or f"{machine}@{raised_s}", machine, kind, int(raised_s * S))


# ----------------------------------------------------------------------------- episodes


def test_episodes_from_events_follow_onset_failure_maintenance() -> None:
    events = [
        (100 * S, "fault_onset", "m1", "bearing_outer", "scenario"),
        (50 * S, "sensor_stuck", "m2", None, "scenario"),
        (700 * S, "failure", "m1", "bearing_outer", "twin"),
        (900 * S, "maintenance", "m1", None, "twin"),
        (300 * S, "fault_onset", "m2", "pump_clogging", "random"),
        (400 * S, "broker_stop", None, None, "scenario"),
    ]
    assert fault_episodes(events) == [
        FaultEpisode("m1", "bearing_outer", 100 * S, 700 * S, 900 * S, "scenario"),
        FaultEpisode("m2", "pump_clogging", 300 * S, None, None, "random"),
    ]


def test_a_new_onset_closes_the_previous_episode_and_failure_is_kept_once() -> None:
    events = [
        (0, "fault_onset", "m1", "imbalance", "scenario"),
        (10 * S, "failure", "m1", None, "twin"),
        (11 * S, "failure", "m1", None, "twin"),
        (20 * S, "fault_onset", "m1", "misalignment", "scenario"),
    ]
    first, second = fault_episodes(events)
    assert (first.fault, first.failure_ms, first.maintenance_ms) == ("imbalance", 10 * S, None)
    assert (second.fault, second.onset_ms, second.failure_ms) == ("misalignment", 20 * S, None)


@pytest.mark.parametrize(
    ("kind", "patterns", "expected"),
    [
        ("prediction", ("prediction",), True),
        ("range.temperature_c", ("range.*",), True),
        ("range.temperature_c", ("prediction",), False),
        ("node.offline", ("prediction", "range.*"), False),
    ],
)
def test_kind_matches(kind: str, patterns: tuple[str, ...], expected: bool) -> None:
    assert kind_matches(kind, patterns) is expected


# ----------------------------------------------------------------------------- faults


EPISODE = FaultEpisode("m1", "bearing_outer", onset_ms=100 * S, failure_ms=700 * S, maintenance_ms=900 * S)


@pytest.mark.parametrize(
    ("alerts", "status", "lead_s"),
    [
        ([alert("m1", 400)], "flagged", 300.0),
        ([alert("m1", 650), alert("m1", 300)], "flagged", 400.0),  # the first raise counts
        ([alert("m1", 100)], "flagged", 600.0),  # at onset
        ([alert("m1", 99)], "missed", None),  # before onset, pre_onset 0
        ([alert("m1", 700)], "late", None),  # at failure is too late
        ([alert("m2", 400)], "missed", None),  # another machine
        ([alert("m1", 400, kind="node.offline")], "missed", None),  # kind not scored
        ([], "missed", None),
    ],
)
def test_fault_outcome(alerts: list[AlertSpan], status: str, lead_s: float | None) -> None:
    scores = score_faults([EPISODE], alerts, machines=2, start_ms=0, end_ms=DAY)
    (outcome,) = scores.outcomes
    assert outcome.status == status
    assert outcome.lead_s == lead_s


def test_pre_onset_grace_lets_an_early_alert_flag() -> None:
    scores = score_faults([EPISODE], [alert("m1", 90)], machines=1, start_ms=0, end_ms=DAY, pre_onset_s=15)
    assert scores.outcomes[0].status == "flagged"
    assert scores.outcomes[0].lead_s == 610.0
    assert scores.false_alerts == ()


def test_open_episodes_are_listed_but_not_counted() -> None:
    open_episode = FaultEpisode("m2", "imbalance", onset_ms=500 * S)
    scores = score_faults(
        [EPISODE, open_episode], [alert("m1", 400), alert("m2", 600)], machines=2, start_ms=0, end_ms=DAY
    )
    assert [o.status for o in scores.outcomes] == ["flagged", "open"]
    assert (scores.failed, scores.flagged, scores.flagged_share) == (1, 1, 1.0)
    assert scores.median_lead_s == 300.0
    assert scores.false_alerts == ()


def test_shares_and_median_over_several_episodes() -> None:
    episodes = [
        FaultEpisode("a", "f", 0, 1000 * S),
        FaultEpisode("b", "f", 0, 1000 * S),
        FaultEpisode("c", "f", 0, 1000 * S),
        FaultEpisode("d", "f", 0, 1000 * S),
    ]
    alerts = [alert("a", 900), alert("b", 800), alert("c", 500)]
    scores = score_faults(episodes, alerts, machines=4, start_ms=0, end_ms=DAY)
    assert scores.flagged_share == 0.75
    assert scores.lead_times_s == (100.0, 200.0, 500.0)
    assert scores.median_lead_s == 200.0


def test_nothing_failed_means_no_share_and_no_median() -> None:
    scores = score_faults([], [], machines=5, start_ms=0, end_ms=DAY)
    assert scores.flagged_share is None
    assert scores.median_lead_s is None
    assert scores.false_per_machine_day == 0.0


@pytest.mark.parametrize(
    ("raised_s", "false"),
    [
        (50, True),  # before onset
        (100, False),  # at onset
        (800, False),  # failed, before maintenance
        (900 + 300, False),  # within post_fault after maintenance
        (900 + 301, True),  # after that
    ],
)
def test_false_alerts_are_those_no_fault_explains(raised_s: float, false: bool) -> None:
    scores = score_faults([EPISODE], [alert("m1", raised_s)], machines=1, start_ms=0, end_ms=DAY)
    assert (len(scores.false_alerts) == 1) is false


def test_false_alerts_per_machine_day() -> None:
    alerts = [alert("m3", 10), alert("m3", 20), alert("m4", 30), alert("m1", 400)]
    scores = score_faults([EPISODE], alerts, machines=4, start_ms=0, end_ms=DAY // 2)
    assert len(scores.false_alerts) == 3
    assert scores.machine_days == 2.0
    assert scores.false_per_machine_day == 1.5
    assert scores.scored_alerts == 4


def test_alert_during_an_open_fault_until_the_end_is_explained() -> None:
    episode = FaultEpisode("m1", "f", onset_ms=100 * S)
    scores = score_faults([episode], [alert("m1", 5000)], machines=1, start_ms=0, end_ms=6000 * S)
    assert scores.false_alerts == ()


# ----------------------------------------------------------------------------- completeness


def arr(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


@pytest.mark.parametrize(
    ("expected", "stored", "lost", "dup", "unexpected"),
    [
        ({("m", "t"): arr(1, 2, 3)}, {("m", "t"): arr(1, 2, 3)}, 0, 0, 0),
        ({("m", "t"): arr(1, 2, 3)}, {("m", "t"): arr(1, 3)}, 1, 0, 0),
        ({("m", "t"): arr(1, 2, 3)}, {("m", "t"): arr(1, 2, 2, 3, 3, 3)}, 0, 2, 0),
        ({("m", "t"): arr(1, 2)}, {("m", "t"): arr(1, 2, 5)}, 0, 0, 1),
        ({("m", "t"): arr(1, 2)}, {}, 2, 0, 0),
        ({("m", "t"): arr(1, 1, 2)}, {("m", "t"): arr(1, 2)}, 0, 0, 0),  # same identity twice at source
        ({("m", "t"): arr(1), ("m", "c"): arr(1)}, {("m", "t"): arr(1)}, 1, 0, 0),
    ],
)
def test_completeness_counts(
    expected: dict[tuple[str, str], np.ndarray],
    stored: dict[tuple[str, str], np.ndarray],
    lost: int,
    dup: int,
    unexpected: int,
) -> None:
    c = completeness("telemetry", expected, stored)
    assert (c.lost, c.duplicated, c.unexpected) == (lost, dup, unexpected)
    assert c.lost_unexcused == lost


def test_completeness_lists_examples_and_worst_series() -> None:
    expected = {("m1", "t"): arr(1, 2, 3, 4), ("m2", "t"): arr(1, 2)}
    stored = {("m1", "t"): arr(1, 1), ("m2", "t"): arr(1)}
    c = completeness("telemetry", expected, stored)
    assert c.lost == 4
    assert [(s.machine_id, s.t_ms) for s in c.lost_examples] == [("m1", 2), ("m1", 3), ("m1", 4), ("m2", 2)]
    assert [(d.machine_id, d.t_ms, d.copies) for d in c.duplicated_examples] == [("m1", 1, 2)]
    assert c.lost_by_series == ((("m1", "t"), 3), (("m2", "t"), 1))


def test_outages_excuse_losses_of_their_machines_only() -> None:
    expected = {("m1", "t"): arr(10, 20, 30, 40), ("m2", "t"): arr(20)}
    stored: dict[tuple[str, str], np.ndarray] = {("m1", "t"): arr(10)}
    outages = [Outage("agent edge-1 down", 15, 30, frozenset({"m1"}))]
    c = completeness("telemetry", expected, stored, outages)
    assert (c.lost, c.lost_excused, c.lost_unexcused) == (4, 2, 2)
    assert {(s.machine_id, s.t_ms) for s in c.lost_examples} == {("m1", 40), ("m2", 20)}
    everyone = completeness("telemetry", expected, stored, [Outage("broker down", 0, 100)])
    assert everyone.lost_unexcused == 0


# ----------------------------------------------------------------------------- latency


def test_latency_percentiles_interpolate() -> None:
    stats = latency_stats("telemetry", [float(v) for v in range(1, 101)])
    assert stats.count == 100
    assert stats.p50 == pytest.approx(50.5)
    assert stats.p95 == pytest.approx(95.05)
    assert stats.p99 == pytest.approx(99.01)
    assert stats.max == 100.0


def test_latency_of_nothing_is_not_measured() -> None:
    stats = latency_stats("alert", [float("nan")])
    assert (stats.count, stats.p50, stats.p99) == (0, None, None)


TIMELINE = [(999, 10.0), (1999, 11.0), (2999, 12.5)]


@pytest.mark.parametrize(
    ("t_ms", "wall"), [(0, 10.0), (999, 10.0), (1000, 11.0), (2500, 12.5), (2999, 12.5), (3000, None)]
)
def test_sent_wall_is_the_emission_of_the_block_holding_the_sample(t_ms: int, wall: float | None) -> None:
    assert sent_wall(t_ms, TIMELINE) == wall


def test_arrivals_join_seen_times_with_emissions() -> None:
    got = arrivals([(500, 12.0), (1500, 11.25), (5000, 20.0)], TIMELINE)
    assert [(a.t_ms, a.latency_s) for a in got] == [(500, 2.0), (1500, 0.25)]


# ----------------------------------------------------------------------------- storage rows


def test_influx_csv_rows_become_series_of_ms() -> None:
    rows = [
        ["", "result", "table", "_time", "machine_id", "metric"],
        ["", "_result", "0", "2026-11-23T19:41:28Z", "m1", "current_a"],
        ["", "_result", "0", "2026-11-23T19:41:28.5Z", "m1", "current_a"],
        [],
        ["", "result", "table", "_time", "machine_id", "metric"],
        ["", "_result", "1", "2026-11-23T19:41:29.123456789Z", "m1", "speed_rpm"],
    ]
    series = rows_to_series(rows, ("machine_id", "metric"))
    base = int(parse_times_ms(["2026-11-23T19:41:28Z"])[0])
    assert base == 1_795_462_888_000
    assert series[("m1", "current_a")].tolist() == [base, base + 500]
    assert series[("m1", "speed_rpm")].tolist() == [base + 1123]
    assert parse_times_ms([]).size == 0
