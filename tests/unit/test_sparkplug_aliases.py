"""Alias table: assignment at birth on the publisher, learning and resolving on the host."""

from __future__ import annotations

import pytest

from proto.errors import DecodeError, EncodeError, UnknownAliasError
from proto.sparkplug import AliasTable, DataType, Metric


def test_assignment_is_stable_and_unique_across_node_and_devices() -> None:
    table = AliasTable()
    node = table.aliased([Metric("fps", DataType.FLOAT, 1.0), Metric("temp", DataType.FLOAT, 1.0)])
    dev = table.aliased([Metric("temp", DataType.DOUBLE, 1.0)], device_id="motor-1")
    assert [m.alias for m in node] == [1, 2]
    assert [m.alias for m in dev] == [3]  # same name, other device: other alias
    assert table.assign("fps", DataType.FLOAT) == 1
    assert table.aliased([Metric("temp", DataType.DOUBLE, 2.0)], device_id="motor-1")[0].alias == 3
    assert len(table) == 3


def test_assignment_refuses_a_changed_type_or_a_nameless_metric() -> None:
    table = AliasTable()
    table.assign("temp", DataType.FLOAT)
    with pytest.raises(EncodeError, match="born as FLOAT"):
        table.assign("temp", DataType.DOUBLE)
    with pytest.raises(EncodeError, match="no name"):
        table.aliased([Metric(None, DataType.FLOAT, 1.0, alias=5)])


def test_host_learns_and_resolves() -> None:
    host = AliasTable()
    host.learn([Metric("fps", DataType.FLOAT, 1.0, alias=10), Metric("uptime", DataType.UINT64, 1)])
    host.learn([Metric("rpm", DataType.UINT32, 1, alias=11)], device_id="motor-1")
    assert host.resolve(Metric(None, DataType.UNKNOWN, 2.0, alias=10)).name == "fps"
    assert host.resolve(Metric("uptime", DataType.UNKNOWN, 5)).datatype is DataType.UINT64
    resolved = host.resolve(Metric(None, DataType.UNKNOWN, 3, alias=11), device_id="motor-1")
    assert (resolved.name, resolved.datatype, resolved.alias) == ("rpm", DataType.UINT32, 11)


@pytest.mark.parametrize(
    ("name", "alias", "device"),
    [(None, 99, None), ("nope", None, None), (None, 11, None), (None, 10, "motor-1"), ("rpm", None, None)],
)
def test_unknown_metrics_ask_for_a_rebirth(name: str | None, alias: int | None, device: str | None) -> None:
    host = AliasTable()
    host.learn([Metric("fps", DataType.FLOAT, 1.0, alias=10)])
    host.learn([Metric("rpm", DataType.UINT32, 1, alias=11)], device_id="motor-1")
    with pytest.raises(UnknownAliasError):
        host.lookup(name, alias, device)


def test_nbirth_starts_over_and_dbirth_replaces_one_device() -> None:
    host = AliasTable()
    host.learn([Metric("fps", DataType.FLOAT, 1.0, alias=1)])
    host.learn([Metric("rpm", DataType.UINT32, 1, alias=2)], device_id="m1")
    host.learn([Metric("rpm", DataType.UINT32, 1, alias=3)], device_id="m2")
    host.learn([Metric("speed", DataType.DOUBLE, 1.0, alias=2)], device_id="m1")
    assert host.entry(2).name == "speed"
    with pytest.raises(UnknownAliasError):
        host.entry_by_name("rpm", "m1")
    host.forget_device("m2")
    with pytest.raises(UnknownAliasError):
        host.entry(3)
    host.learn([Metric("fps", DataType.FLOAT, 1.0, alias=7)])
    with pytest.raises(UnknownAliasError):
        host.entry(2)
    assert host.entry(7).name == "fps"


def test_learning_refuses_conflicts() -> None:
    host = AliasTable()
    host.learn([Metric("a", DataType.FLOAT, 1.0, alias=1)])
    with pytest.raises(DecodeError, match="alias 1 given to both"):
        host.learn([Metric("b", DataType.FLOAT, 1.0, alias=1)], device_id="m1")
    with pytest.raises(DecodeError, match="born twice"):
        host.learn([Metric("a", DataType.FLOAT, 1.0, alias=1), Metric("a", DataType.FLOAT, 1.0, alias=2)])
    with pytest.raises(DecodeError, match="no name"):
        host.learn([Metric(None, DataType.FLOAT, 1.0, alias=1)])
