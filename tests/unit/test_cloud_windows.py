"""Event-time windows, Welford statistics and the window aggregator, without any broker."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from cloud.errors import ConfigError
from cloud.processing.aggregation import AggregatorState, WindowAggregator
from cloud.processing.records import Aggregate, TelemetryPoint
from cloud.processing.stats import RunningStats
from cloud.processing.windows import WindowRange, WindowSpec, format_duration, parse_duration_ms, window_id


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("250ms", 250),
        ("10s", 10_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
        ("42", 42),
        (7, 7),
    ],
)
def test_parse_duration(text: str | int, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "ten", "5 weeks", "-1s", "1.5s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration_ms(text)


@pytest.mark.parametrize(
    ("ms", "text"), [(60_000, "1m"), (1_500, "1500ms"), (10_000, "10s"), (7_200_000, "2h")]
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


@pytest.mark.parametrize(
    ("spec", "ts", "windows"),
    [
        (WindowSpec.tumbling("10s"), 0, [(0, 10_000)]),
        (WindowSpec.tumbling("10s"), 9_999, [(0, 10_000)]),
        (WindowSpec.tumbling("10s"), 10_000, [(10_000, 20_000)]),
        (WindowSpec.tumbling("10s"), -1, [(-10_000, 0)]),
        (WindowSpec.hopping("10s", "5s"), 7_000, [(0, 10_000), (5_000, 15_000)]),
        (WindowSpec.hopping("10s", "5s"), 5_000, [(0, 10_000), (5_000, 15_000)]),
        (WindowSpec.hopping("10s", "5s"), 4_999, [(-5_000, 5_000), (0, 10_000)]),
        (WindowSpec.hopping("30s", "10s"), 25_000, [(0, 30_000), (10_000, 40_000), (20_000, 50_000)]),
        (WindowSpec.hopping("10s", "4s"), 9_000, [(0, 10_000), (4_000, 14_000), (8_000, 18_000)]),
    ],
)
def test_windows_for(spec: WindowSpec, ts: int, windows: list[tuple[int, int]]) -> None:
    found = spec.windows_for(ts)
    assert [(w.start_ms, w.end_ms) for w in found] == windows
    assert all(w.contains(ts) for w in found)


@pytest.mark.parametrize(
    ("spec", "watermark", "closed"),
    [
        (WindowSpec.tumbling("10s"), None, False),
        (WindowSpec.tumbling("10s"), 9_999, False),
        (WindowSpec.tumbling("10s"), 10_000, True),
        (WindowSpec.tumbling("10s", "2s"), 11_999, False),
        (WindowSpec.tumbling("10s", "2s"), 12_000, True),
    ],
)
def test_close_rule(spec: WindowSpec, watermark: int | None, closed: bool) -> None:
    assert spec.is_closed(WindowRange(0, 10_000), watermark) is closed


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        (WindowSpec.tumbling("1m"), "1m"),
        (WindowSpec.hopping("5m", "1m"), "5m/1m"),
        (WindowSpec.hopping("1m", "1m"), "1m"),
        (WindowSpec(1500), "1500ms"),
    ],
)
def test_spec_label(spec: WindowSpec, label: str) -> None:
    assert spec.label == label


@pytest.mark.parametrize(("size", "step", "lateness"), [(0, 0, 0), (10, 20, 0), (10, -1, 0), (10, 5, -1)])
def test_spec_rejects(size: int, step: int, lateness: int) -> None:
    with pytest.raises(ConfigError):
        WindowSpec(size, step, lateness)


def test_window_id_is_stable_and_distinct() -> None:
    a = window_id("m1", "temperature", "1m", 60_000)
    assert a == window_id("m1", "temperature", "1m", 60_000)
    others = {
        window_id("m2", "temperature", "1m", 60_000),
        window_id("m1", "vibration", "1m", 60_000),
        window_id("m1", "temperature", "5m/1m", 60_000),
        window_id("m1", "temperature", "1m", 120_000),
    }
    assert a not in others
    assert len(others) == 4


@pytest.mark.parametrize(
    "values",
    [[1.0], [1.0, 2.0], [3.0, 3.0, 3.0], [1e9 + 1, 1e9 + 2, 1e9 + 3], [-5.0, 0.0, 5.0, 10.0, 2.5]],
)
def test_running_stats_match_statistics(values: list[float]) -> None:
    stats = RunningStats.of(values)
    assert stats.count == len(values)
    assert stats.mean == pytest.approx(statistics.fmean(values))
    assert stats.min == min(values)
    assert stats.max == max(values)
    expected_std = statistics.stdev(values) if len(values) > 1 else 0.0
    assert stats.std == pytest.approx(expected_std, abs=1e-9)


@pytest.mark.parametrize("cut", [0, 1, 5, 9, 10])
def test_running_stats_merge_equals_whole(cut: int) -> None:
    rng = random.Random(cut)
    values = [rng.gauss(50.0, 3.0) for _ in range(10)]
    merged = RunningStats.of(values[:cut]).merge(RunningStats.of(values[cut:]))
    whole = RunningStats.of(values)
    assert merged.count == whole.count
    assert merged.mean == pytest.approx(whole.mean)
    assert merged.std == pytest.approx(whole.std)
    assert (merged.min, merged.max) == (whole.min, whole.max)


def test_running_stats_extend_does_not_depend_on_batching() -> None:
    values = [0.1 * i + (i % 3) for i in range(50)]
    one = RunningStats.of(values)
    many = RunningStats()
    for start in range(0, 50, 7):
        many = many.extend(values[start : start + 7])
    assert one == many
    assert RunningStats.from_tuple(one.to_tuple()) == one


def _p(
    ts: int, value: float, metric: str = "temperature", machine: str = "m1", stale: bool = False
) -> TelemetryPoint:
    return TelemetryPoint(machine, metric, ts, value, stale=stale)


TUMBLING_10S = WindowSpec.tumbling("10s")


@pytest.mark.parametrize(
    ("spec", "points", "closed"),
    [
        # nothing closes until the watermark passes the end
        (TUMBLING_10S, [(1_000, 1.0), (9_000, 3.0)], []),
        # the first point of the next window closes the previous one
        (TUMBLING_10S, [(1_000, 1.0), (9_000, 3.0), (10_000, 5.0)], [(0, 2, 2.0, 1.0, 3.0)]),
        # allowed lateness keeps the window open, a late point still counts
        (
            WindowSpec.tumbling("10s", "5s"),
            [(1_000, 1.0), (12_000, 9.0), (8_000, 5.0), (15_000, 0.0)],
            [(0, 2, 3.0, 1.0, 5.0)],
        ),
        # past the lateness a point is dropped
        (
            TUMBLING_10S,
            [(1_000, 1.0), (10_000, 9.0), (2_000, 100.0), (20_000, 0.0)],
            [(0, 1, 1.0, 1.0, 1.0), (10_000, 1, 9.0, 9.0, 9.0)],
        ),
        # stale and non-finite samples are not values
        (
            TUMBLING_10S,
            [(1_000, 2.0), (2_000, math.nan), (3_000, math.inf), (30_000, 1.0)],
            [(0, 1, 2.0, 2.0, 2.0)],
        ),
    ],
)
def test_aggregator_tumbling(
    spec: WindowSpec, points: list[tuple[int, float]], closed: list[tuple[int, int, float, float, float]]
) -> None:
    agg = WindowAggregator([spec])
    _, out = agg.step(AggregatorState(), [_p(ts, v) for ts, v in points])
    assert [(a.start_ms, a.count, a.mean, a.min, a.max) for a in out] == closed
    assert all(a.final and a.end_ms == a.start_ms + spec.size_ms for a in out)


def test_aggregator_counts_late_points() -> None:
    agg = WindowAggregator([TUMBLING_10S])
    state, _ = agg.step(AggregatorState(), [_p(1_000, 1.0), _p(25_000, 2.0), _p(3_000, 7.0)])
    assert state.late == 1
    assert state.watermark_ms == 25_000


def test_aggregator_stale_point_is_ignored() -> None:
    agg = WindowAggregator([TUMBLING_10S])
    state, _ = agg.step(AggregatorState(), [_p(1_000, 1.0, stale=True)])
    assert state.windows == {}


def test_aggregator_hopping_windows_and_ids() -> None:
    spec = WindowSpec.hopping("10s", "5s")
    agg = WindowAggregator([spec])
    points = [_p(ts, float(ts // 1000)) for ts in range(0, 20_000, 1_000)]
    _, out = agg.step(AggregatorState(), points)
    got = [(a.start_ms, a.count, a.mean) for a in out]
    assert got == [(-5_000, 5, 2.0), (0, 10, 4.5), (5_000, 10, 9.5)]
    assert [a.window_id for a in out] == [window_id("m1", "temperature", "10s/5s", s) for s, _, _ in got]


def test_aggregator_keeps_series_apart_and_orders_output() -> None:
    agg = WindowAggregator([TUMBLING_10S])
    points = [
        _p(1_000, 1.0, "b"),
        _p(2_000, 2.0, "a"),
        _p(3_000, 3.0, "a", machine="m0"),
        _p(11_000, 0.0, "c"),
    ]
    _, out = agg.step(AggregatorState(), points)
    assert [(a.machine_id, a.metric, a.count) for a in out] == [
        ("m0", "a", 1),
        ("m1", "a", 1),
        ("m1", "b", 1),
    ]


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 100])
def test_aggregator_result_does_not_depend_on_batching(batch: int) -> None:
    rng = random.Random(7)
    spec = WindowSpec.hopping("10s", "5s", "3s")
    points = []
    for i in range(120):
        ts = i * 500 + rng.randint(-4_000, 0)  # out of order, some late
        points.append(_p(ts, rng.gauss(20.0, 2.0), metric=rng.choice(["a", "b"])))
    agg = WindowAggregator([spec, TUMBLING_10S])
    reference_state, reference = agg.step(AggregatorState(), points)
    state = AggregatorState()
    out: list[Aggregate] = []
    for start in range(0, len(points), batch):
        state, closed = agg.step(state, points[start : start + batch])
        out.extend(closed)
    key = lambda a: (a.window, a.metric, a.start_ms)  # noqa: E731
    assert sorted(out, key=key) == sorted(reference, key=key)
    assert state == reference_state


def test_aggregator_flush_is_provisional() -> None:
    agg = WindowAggregator([TUMBLING_10S])
    state, out = agg.step(AggregatorState(), [_p(1_000, 4.0), _p(2_000, 6.0)])
    assert out == ()
    (partial,) = agg.flush(state)
    assert (partial.count, partial.mean, partial.final) == (2, 5.0, False)
    assert partial.std == pytest.approx(math.sqrt(2.0))


def test_aggregator_rejects_duplicate_specs() -> None:
    with pytest.raises(ConfigError):
        WindowAggregator([TUMBLING_10S, WindowSpec.tumbling("10s")])
