"""Pure scoring of a run: faults flagged before failure and lead times, false alerts, completeness, latency.

Everything here takes values and returns values; the orchestrator collects them, the report shows
them. Detection precision and recall live in ``detection_scoring``.

Rules, in event time (the twin's clock):

- A fault episode *counts* when the machine failed within the run; it is *flagged* when an alert
  about the machine, of one of the scored kinds, was raised in ``[onset - pre_onset, failure)``.
  Lead time = failure - first such raise. Episodes still open at the end are listed, not counted.
- An alert is *explained* when it was raised while the machine had a fault: from
  ``onset - pre_onset`` to its maintenance (or the end of the run) plus ``post_fault``. Every other
  alert is false; the rate is per machine-day of simulated time.
- Completeness compares identities (machine, metric, sample time) the edge had to forward with
  those stored: missing ones are lost (excused when an outage covers them), identities stored
  more than once (different tag sets) are duplicated.
"""

from __future__ import annotations

import fnmatch
import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from iiot.harness.records import AlertSpan, Arrival, FaultEpisode, Outage

MS_PER_DAY = 86_400_000
SeriesKey = tuple[str, str]  # (machine id, metric)


# --------------------------------------------------------------------------- fault episodes


def fault_episodes(events: Iterable[tuple[int, str, str | None, str | None, str]]) -> list[FaultEpisode]:
    """Episodes from the twin's (t_ms, kind, machine, fault, source) events, in onset order."""
    open_: dict[str, FaultEpisode] = {}
    done: list[FaultEpisode] = []
    for t_ms, kind, machine, fault, source in sorted(events, key=lambda e: e[0]):
        if machine is None:
            continue
        current = open_.get(machine)
        if kind == "fault_onset":
            if current is not None:
                done.append(current)
            open_[machine] = FaultEpisode(machine, fault or "unknown", t_ms, source=source)
        elif kind == "failure" and current is not None and current.failure_ms is None:
            open_[machine] = replace(current, failure_ms=t_ms)
        elif kind == "maintenance" and current is not None:
            done.append(replace(current, maintenance_ms=t_ms))
            del open_[machine]
    done.extend(open_.values())
    return sorted(done, key=lambda e: (e.onset_ms, e.machine_id))


def kind_matches(kind: str, patterns: Sequence[str]) -> bool:
    """Whether an alert kind matches one of the patterns (shell wildcards, e.g. ``range.*``)."""
    return any(fnmatch.fnmatchcase(kind, p) for p in patterns)


# --------------------------------------------------------------------------- faults and alerts


@dataclass(frozen=True, slots=True)
class FaultOutcome:
    """How one fault episode was caught."""

    episode: FaultEpisode
    status: str  # "flagged", "late" (first alert after failure), "missed", "open" (did not fail)
    alert_id: str | None = None
    first_alert_ms: int | None = None

    @property
    def lead_s(self) -> float | None:
        """Seconds from the first qualifying alert to the failure (flagged episodes only)."""
        if self.status != "flagged" or self.first_alert_ms is None or self.episode.failure_ms is None:
            return None
        return (self.episode.failure_ms - self.first_alert_ms) / 1000.0


@dataclass(frozen=True, slots=True)
class FaultScores:
    """Faults flagged before failure, lead times and false alerts."""

    outcomes: tuple[FaultOutcome, ...]
    false_alerts: tuple[AlertSpan, ...]
    machine_days: float
    scored_alerts: int

    @property
    def failed(self) -> int:
        """Episodes that reached failure within the run (the denominator of the flagged share)."""
        return sum(1 for o in self.outcomes if o.status != "open")

    @property
    def flagged(self) -> int:
        """Failed episodes flagged before their failure."""
        return sum(1 for o in self.outcomes if o.status == "flagged")

    @property
    def flagged_share(self) -> float | None:
        """Flagged / failed; None when nothing failed."""
        return self.flagged / self.failed if self.failed else None

    @property
    def lead_times_s(self) -> tuple[float, ...]:
        """Lead times of the flagged episodes, in seconds."""
        return tuple(o.lead_s for o in self.outcomes if o.lead_s is not None)

    @property
    def median_lead_s(self) -> float | None:
        """Median lead time; None when nothing was flagged."""
        leads = self.lead_times_s
        return float(np.median(leads)) if leads else None

    @property
    def false_per_machine_day(self) -> float | None:
        """False alerts per machine-day of simulated time; None for an empty run."""
        return len(self.false_alerts) / self.machine_days if self.machine_days > 0 else None


def score_faults(
    episodes: Sequence[FaultEpisode],
    alerts: Sequence[AlertSpan],
    *,
    machines: int,
    start_ms: int,
    end_ms: int,
    kinds: Sequence[str] = ("prediction",),
    pre_onset_s: float = 0.0,
    post_fault_s: float = 300.0,
) -> FaultScores:
    """Match machine alerts of the scored kinds to fault episodes; see the module docstring."""
    pre_ms, post_ms = round(pre_onset_s * 1000), round(post_fault_s * 1000)
    scored = sorted((a for a in alerts if kind_matches(a.kind, kinds)), key=lambda a: a.raised_ms)
    by_machine: dict[str, list[AlertSpan]] = {}
    for alert in scored:
        by_machine.setdefault(alert.machine_id, []).append(alert)
    outcomes = tuple(_outcome(e, by_machine.get(e.machine_id, []), pre_ms) for e in episodes)
    false_alerts = tuple(
        a for a in scored if not _explained(a, episodes, pre_ms=pre_ms, post_ms=post_ms, end_ms=end_ms)
    )
    machine_days = machines * max(0, end_ms - start_ms) / MS_PER_DAY
    return FaultScores(outcomes, false_alerts, machine_days, len(scored))


def _outcome(episode: FaultEpisode, alerts: Sequence[AlertSpan], pre_ms: int) -> FaultOutcome:
    window_start = episode.onset_ms - pre_ms
    window_end = episode.failure_ms if episode.failure_ms is not None else episode.maintenance_ms
    candidates = [
        a for a in alerts if a.raised_ms >= window_start and (window_end is None or a.raised_ms < window_end)
    ]
    if episode.failure_ms is None:
        first = candidates[0] if candidates else None
        return FaultOutcome(
            episode, "open", first.alert_id if first else None, first.raised_ms if first else None
        )
    if candidates:
        return FaultOutcome(episode, "flagged", candidates[0].alert_id, candidates[0].raised_ms)
    late = [a for a in alerts if a.raised_ms >= episode.failure_ms]
    if late and (episode.maintenance_ms is None or late[0].raised_ms < episode.maintenance_ms):
        return FaultOutcome(episode, "late", late[0].alert_id, late[0].raised_ms)
    return FaultOutcome(episode, "missed")


def _explained(
    alert: AlertSpan, episodes: Sequence[FaultEpisode], *, pre_ms: int, post_ms: int, end_ms: int
) -> bool:
    for e in episodes:
        if e.machine_id != alert.machine_id:
            continue
        until = (e.maintenance_ms if e.maintenance_ms is not None else end_ms) + post_ms
        if e.onset_ms - pre_ms <= alert.raised_ms <= until:
            return True
    return False


# --------------------------------------------------------------------------- completeness


@dataclass(frozen=True, slots=True)
class LostSample:
    """One identity that should have been stored."""

    machine_id: str
    metric: str
    t_ms: int
    excused_by: str = ""


@dataclass(frozen=True, slots=True)
class DuplicatedSample:
    """One identity stored more than once (under different tag sets)."""

    machine_id: str
    metric: str
    t_ms: int
    copies: int


@dataclass(frozen=True, slots=True)
class Completeness:
    """Expected versus stored identities of one kind of datum (telemetry samples, inspections)."""

    what: str
    expected: int
    stored: int
    lost: int
    lost_excused: int
    duplicated: int
    unexpected: int
    lost_examples: tuple[LostSample, ...] = ()
    duplicated_examples: tuple[DuplicatedSample, ...] = ()
    lost_by_series: tuple[tuple[SeriesKey, int], ...] = field(default=())

    @property
    def lost_unexcused(self) -> int:
        """Lost identities no outage explains."""
        return self.lost - self.lost_excused


def completeness(
    what: str,
    expected: Mapping[SeriesKey, NDArray[np.int64]],
    stored: Mapping[SeriesKey, NDArray[np.int64]],
    outages: Sequence[Outage] = (),
    *,
    examples: int = 20,
) -> Completeness:
    """Compare expected identities with stored rows (a row per stored point, duplicates included)."""
    n_expected = n_stored = n_lost = n_excused = n_dup = n_unexpected = 0
    lost_examples: list[LostSample] = []
    dup_examples: list[DuplicatedSample] = []
    lost_by_series: list[tuple[SeriesKey, int]] = []
    for key in sorted(set(expected) | set(stored)):
        want = np.unique(expected.get(key, np.empty(0, np.int64)))
        rows = np.asarray(stored.get(key, np.empty(0, np.int64)), dtype=np.int64)
        have, counts = np.unique(rows, return_counts=True)
        n_expected += int(want.size)
        n_stored += int(have.size)
        dups = have[counts > 1]
        n_dup += int(dups.size)
        for t, c in zip(dups[: max(0, examples - len(dup_examples))], counts[counts > 1], strict=False):
            dup_examples.append(DuplicatedSample(key[0], key[1], int(t), int(c)))
        n_unexpected += int(np.setdiff1d(have, want, assume_unique=True).size)
        missing = np.setdiff1d(want, have, assume_unique=True)
        if not missing.size:
            continue
        lost_by_series.append((key, int(missing.size)))
        n_lost += int(missing.size)
        for t in missing:
            cause = next((o.cause for o in outages if o.covers(key[0], int(t))), "")
            if cause:
                n_excused += 1
            if len(lost_examples) < examples and not cause:
                lost_examples.append(LostSample(key[0], key[1], int(t)))
    return Completeness(
        what,
        n_expected,
        n_stored,
        n_lost,
        n_excused,
        n_dup,
        n_unexpected,
        tuple(lost_examples),
        tuple(dup_examples),
        tuple(sorted(lost_by_series, key=lambda kv: -kv[1])),
    )


# --------------------------------------------------------------------------- latency


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Percentiles of one latency series, in seconds."""

    what: str
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    values: tuple[float, ...] = ()


def latency_stats(what: str, values: Iterable[float]) -> LatencyStats:
    """p50/p95/p99/max of finite values (linear interpolation between ranks)."""
    data = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
    if not data.size:
        return LatencyStats(what, 0, None, None, None, None)
    p50, p95, p99 = (float(x) for x in np.percentile(data, [50, 95, 99]))
    return LatencyStats(what, int(data.size), p50, p95, p99, float(data.max()), tuple(sorted(data.tolist())))


def sent_wall(t_ms: int, timeline: Sequence[tuple[int, float]]) -> float | None:
    """Wall time at which the twin emitted the block holding ``t_ms``.

    ``timeline`` is (newest sample time of a block, wall time the block was emitted), ascending.
    Samples after the last block have no emission time (None).
    """
    i = bisect_left(timeline, (t_ms, -math.inf))
    return timeline[i][1] if i < len(timeline) else None


def arrivals(seen: Iterable[tuple[int, float]], timeline: Sequence[tuple[int, float]]) -> list[Arrival]:
    """(event time, first seen wall) pairs joined with the twin's emission times."""
    out = []
    for t_ms, seen_wall in seen:
        emitted = sent_wall(t_ms, timeline)
        if emitted is not None:
            out.append(Arrival(t_ms, emitted, seen_wall))
    return out
