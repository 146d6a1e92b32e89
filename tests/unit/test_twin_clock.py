"""The sim clock and the pacer."""

from __future__ import annotations

import pytest

from simulators.clock import Pacer, SimClock


class FakeTime:
    """A monotonic clock that only moves when slept."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_clock_steps_in_fixed_dt() -> None:
    clock = SimClock(epoch_ms=1_000, dt_ms=100)
    assert clock.advance(25) == 3_500
    assert clock.elapsed_s == pytest.approx(2.5)


@pytest.mark.parametrize(("speed", "expected"), [(1.0, 10.0), (10.0, 1.0), (0.5, 20.0)])
def test_pacer_sleeps_until_wall_time_matches_speed(speed: float, expected: float) -> None:
    fake = FakeTime()
    pacer = Pacer(speed, monotonic=fake.monotonic, sleep=fake.sleep)
    pacer.start()
    for second in range(1, 11):
        assert pacer.wait(float(second)) == 0.0
    assert fake.now - 100.0 == pytest.approx(expected)


def test_pacer_at_speed_zero_never_sleeps() -> None:
    fake = FakeTime()
    pacer = Pacer(0.0, monotonic=fake.monotonic, sleep=fake.sleep)
    pacer.start()
    assert pacer.wait(1e6) == 0.0
    assert fake.slept == []


def test_pacer_reports_lag_instead_of_sleeping() -> None:
    fake = FakeTime()
    pacer = Pacer(1.0, monotonic=fake.monotonic, sleep=fake.sleep)
    pacer.start()
    fake.now += 5.0
    assert pacer.wait(2.0) == pytest.approx(3.0)
    assert fake.slept == []
