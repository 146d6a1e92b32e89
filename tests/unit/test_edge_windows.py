"""Ring buffers keyed by event time and window assembly, as tables."""

from __future__ import annotations

import numpy as np
import pytest

from edge.windows import MachineBuffer, WindowAssembler, WindowSpec, forward_fill

NAN = float("nan")
SPEC = WindowSpec(("a", "b"), mean=(0.0, 10.0), std=(1.0, 2.0), length=4, stride=2)


def ts(*values: int) -> np.ndarray:
    return np.asarray(values, np.int64)


def rows(*values: tuple[float, ...]) -> np.ndarray:
    return np.asarray(values, np.float64)


@pytest.mark.parametrize(
    ("block", "last", "expected"),
    [
        ([[1.0, NAN], [NAN, 2.0], [3.0, NAN]], [NAN, NAN], [[1.0, NAN], [1.0, 2.0], [3.0, 2.0]]),
        ([[NAN, NAN]], [5.0, 6.0], [[5.0, 6.0]]),
        ([[NAN], [NAN], [7.0]], [NAN], [[NAN], [NAN], [7.0]]),
    ],
)
def test_forward_fill(block: list[list[float]], last: list[float], expected: list[list[float]]) -> None:
    out = forward_fill(np.asarray(block), np.asarray(last))
    np.testing.assert_array_equal(out, np.asarray(expected))


@pytest.mark.parametrize(
    ("arrivals", "expected_ts", "dupes", "late"),
    [
        ([[1, 2, 3], [4, 5]], [1, 2, 3, 4, 5], 0, 0),  # in order
        ([[1, 2, 3], [2, 3]], [1, 2, 3], 2, 0),  # a redelivered block: duplicates ignored
        ([[1, 3, 5], [4, 2]], [1, 2, 3, 4, 5], 0, 0),  # out of order: inserted by event time
        ([[1, 2, 3, 4, 5, 6, 7, 8]], [3, 4, 5, 6, 7, 8], 0, 0),  # capacity 6: the oldest leave
    ],
)
def test_buffer_orders_by_event_time(
    arrivals: list[list[int]], expected_ts: list[int], dupes: int, late: int
) -> None:
    buffer = MachineBuffer(("a",), capacity=6)
    d = lt = 0
    for block in arrivals:
        result = buffer.add(ts(*block), rows(*[(float(t),) for t in block]))
        d, lt = d + result.duplicates, lt + result.late
    cut = buffer.window(buffer.count - 1, buffer.count - buffer.oldest)
    assert cut is not None
    assert cut[0].tolist() == expected_ts
    assert cut[1][:, 0].tolist() == [float(t) for t in expected_ts]
    assert (d, lt) == (dupes, late)


def test_late_sample_inside_a_run_window_is_dropped() -> None:
    buffer = MachineBuffer(("a",), capacity=10)
    buffer.add(ts(10, 20, 30, 40), rows((1.0,), (2.0,), (3.0,), (4.0,)))
    buffer.frozen = 2  # samples 0..2 went into a window already
    result = buffer.add(ts(15, 35), rows((9.0,), (9.0,)))
    assert (result.appended, result.late) == (1, 1)


def test_ring_survives_many_compactions() -> None:
    buffer = MachineBuffer(("a",), capacity=5)
    for t in range(1, 200):
        buffer.add(ts(t), rows((float(t),)))
    cut = buffer.window(buffer.count - 1, 5)
    assert cut is not None
    assert cut[0].tolist() == [195, 196, 197, 198, 199]
    assert buffer.window(buffer.count - 6, 5) is None  # its first sample left the ring


def feed(
    assembler: WindowAssembler, machine: str, start: int, n: int, channels: tuple[str, ...] = ("a", "b")
) -> None:
    t = ts(*range(start, start + n))
    values = np.stack([np.arange(start, start + n, dtype=np.float64)] * len(channels), axis=1)
    assembler.add(machine, "line-1", channels, t, values)


@pytest.mark.parametrize(
    ("samples", "expected_ends"),
    [
        (3, []),  # not yet a full window
        (4, [3]),
        (5, [3]),
        (6, [3, 5]),
        (9, [3, 5, 7]),
    ],
)
def test_window_ends_follow_length_and_stride(samples: int, expected_ends: list[int]) -> None:
    assembler = WindowAssembler(SPEC)
    feed(assembler, "m1", 0, samples)
    assert [w.end for w in assembler.pending()] == expected_ends


def test_windows_do_not_depend_on_how_samples_arrive() -> None:
    one, many = WindowAssembler(SPEC), WindowAssembler(SPEC)
    feed(one, "m1", 0, 12)
    for start in range(0, 12, 3):
        feed(many, "m1", start, 3)
        many.commit(many.pending())
    assert [w.end_ms for w in one.pending()] == [3, 5, 7, 9, 11]
    assert many.pending() == ()


def test_commit_moves_past_run_windows_only() -> None:
    assembler = WindowAssembler(SPEC)
    feed(assembler, "m1", 0, 8)
    first = assembler.pending()
    assembler.commit(first[:1])
    assert [w.end for w in assembler.pending()] == [5, 7]


def test_assemble_orders_channels_and_normalizes() -> None:
    assembler = WindowAssembler(SPEC)
    t = ts(0, 1, 2, 3)
    # the source sends channels in another order, and b is missing at first
    assembler.add("m1", "l", ("b", "a"), t, rows((NAN, 1.0), (12.0, 2.0), (NAN, 3.0), (14.0, 4.0)))
    (window,) = assembler.pending()
    batch = assembler.assemble([window])
    assert batch.shape == (1, 4, 2)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, :, 0], [1, 2, 3, 4])  # a: (x - 0) / 1
    np.testing.assert_allclose(batch[0, :, 1], [0, 1, 1, 2])  # b: NaN -> mean -> 0, then ffill
    assert (window.start_ms, window.end_ms) == (0, 3)


def test_missing_channel_is_left_at_the_mean() -> None:
    assembler = WindowAssembler(SPEC)
    feed(assembler, "m1", 0, 4, channels=("a",))
    batch = assembler.assemble(assembler.pending())
    np.testing.assert_allclose(batch[0, :, 1], 0.0)


def test_many_machines_one_batch_and_per_machine_cap() -> None:
    assembler = WindowAssembler(SPEC, pending_per_machine=2)
    for i in range(50):
        feed(assembler, f"m{i}", 0, 10)
    pending = assembler.pending()
    assert len(pending) == 100  # 4 ready each, 2 allowed per tick
    assert assembler.assemble(pending).shape == (100, 4, 2)
    assert len(assembler.pending(limit=30)) == 30


def test_machine_far_behind_skips_lost_windows_and_counts_them() -> None:
    assembler = WindowAssembler(SPEC, pending_per_machine=1)  # capacity 4 + 2 * 2 = 8 samples
    feed(assembler, "m1", 0, 20)
    assert assembler.skipped > 0
    (window,) = assembler.pending()
    assert window.end >= 20 - 8 + 3
    assert (window.end - 3) % 2 == 0  # still on the stride grid


def test_gap_restarts_the_machine() -> None:
    assembler = WindowAssembler(SPEC, max_gap_ms=100)
    feed(assembler, "m1", 0, 4)
    assembler.commit(assembler.pending())
    feed(assembler, "m1", 1000, 3)
    assert assembler.pending() == ()  # the old samples do not mix with the new
    feed(assembler, "m1", 1003, 1)
    (window,) = assembler.pending()
    assert window.start_ms == 1000


def test_a_new_spec_with_a_longer_window_keeps_working() -> None:
    assembler = WindowAssembler(SPEC)
    feed(assembler, "m1", 0, 6)
    longer = WindowSpec(("a", "b"), (0.0, 0.0), (1.0, 1.0), length=6, stride=3)
    assembler.use(longer)
    feed(assembler, "m1", 6, 30)
    windows = assembler.pending()
    assert windows
    assert assembler.assemble(windows).shape[1:] == (6, 2)
