"""InfluxDB of the local stack: points with event timestamps, Flux reads, idempotent rewrites."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from stack_settings import StackSettings

EVENT_TIME = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)  # event time, not wall-clock time


@pytest.fixture
def influx(stack: StackSettings) -> Iterator[InfluxDBClient]:
    """A client with the stack's all-access token."""
    with InfluxDBClient(
        url=stack.influx_url, token=stack.influx_token, org=stack.influx_org, timeout=10_000
    ) as client:
        yield client


Row = tuple[datetime, str, float]


def read_series(client: InfluxDBClient, stack: StackSettings, machine: str) -> list[Row]:
    """All (time, field, value) of one machine's series in the test bucket, via Flux."""
    start, stop = (EVENT_TIME + timedelta(hours=h) for h in (-1, 1))
    flux = f"""
from(bucket: "{stack.influx_test_bucket}")
  |> range(start: {start.isoformat()}, stop: {stop.isoformat()})
  |> filter(fn: (r) => r._measurement == "vibration" and r.machine == "{machine}")
"""
    tables = client.query_api().query(flux, org=stack.influx_org)
    return sorted((r.get_time(), r.get_field(), r.get_value()) for table in tables for r in table.records)


def point(machine: str, offset_s: int, rms: float) -> Point:
    """One vibration sample at EVENT_TIME + offset_s."""
    return (
        Point("vibration")
        .tag("machine", machine)
        .field("rms", rms)
        .time(EVENT_TIME + timedelta(seconds=offset_s), WritePrecision.MS)
    )


def test_write_and_read_back_with_event_time(influx: InfluxDBClient, stack: StackSettings) -> None:
    """Points keep their own timestamps (hours away from now) and values."""
    machine = f"it-{uuid.uuid4().hex[:10]}"
    influx.write_api(write_options=SYNCHRONOUS).write(
        bucket=stack.influx_test_bucket, record=[point(machine, i, 0.5 + i) for i in range(3)]
    )
    assert read_series(influx, stack, machine) == [
        (EVENT_TIME + timedelta(seconds=i), "rms", 0.5 + i) for i in range(3)
    ]


def test_same_series_and_timestamp_overwrites(influx: InfluxDBClient, stack: StackSettings) -> None:
    """A replay of the same series and time replaces the value instead of adding a row."""
    machine = f"it-{uuid.uuid4().hex[:10]}"
    write = influx.write_api(write_options=SYNCHRONOUS)
    write.write(bucket=stack.influx_test_bucket, record=point(machine, 0, 1.0))
    write.write(bucket=stack.influx_test_bucket, record=point(machine, 0, 2.0))
    assert read_series(influx, stack, machine) == [(EVENT_TIME, "rms", 2.0)]
