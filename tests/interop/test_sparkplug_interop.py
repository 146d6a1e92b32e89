"""Our Sparkplug B codec against an independent implementation (pysparkplug, from PyPI).

pysparkplug pins paho-mqtt<2, so it runs in its own environment, created once and
cached in tests/interop/.venv (or $IIOT_INTEROP_VENV) with uv. Bytes cross between the
two through files; pysparkplug_tool.py reports what it decoded as JSON. The test
fails, never skips, when that environment cannot be built.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proto.sparkplug import (
    AliasTable,
    DataType,
    HostState,
    MessageType,
    MetaData,
    Metric,
    PropertyValue,
    decode_message,
    decode_state,
    encode_dbirth,
    encode_dcmd,
    encode_ddata,
    encode_ddeath,
    encode_nbirth,
    encode_ndata,
    encode_ndeath,
    encode_rebirth_request,
    encode_state,
    property_set,
)

HERE = Path(__file__).resolve().parent
TOOL = HERE / "pysparkplug_tool.py"
REQUIREMENTS = HERE / "requirements.txt"
VENV = Path(os.environ.get("IIOT_INTEROP_VENV", HERE / ".venv"))
T0 = 1_767_225_600_123

ALL_TYPES = (
    Metric("i8", DataType.INT8, -5, timestamp=T0),
    Metric("i16", DataType.INT16, -300, timestamp=T0),
    Metric("i32", DataType.INT32, -70_000, timestamp=T0),
    Metric("i64", DataType.INT64, -(2**40), timestamp=T0),
    Metric("u8", DataType.UINT8, 250, timestamp=T0),
    Metric("u16", DataType.UINT16, 65_000, timestamp=T0),
    Metric("u32", DataType.UINT32, 4_000_000_000, timestamp=T0),
    Metric("u64", DataType.UINT64, 2**64 - 1, timestamp=T0),
    Metric("f32", DataType.FLOAT, 29.5, timestamp=T0),
    Metric("f64", DataType.DOUBLE, 0.1, timestamp=T0),
    Metric("flag", DataType.BOOLEAN, True, timestamp=T0),
    Metric("text/string", DataType.STRING, "héllo wörld", timestamp=T0),
    Metric("when", DataType.DATETIME, T0 - 3_600_000, timestamp=T0),
    Metric("note", DataType.TEXT, "a longer text", timestamp=T0),
    Metric("uuid", DataType.UUID, "123e4567-e89b-12d3-a456-426614174000", timestamp=T0),
    Metric(
        "blob", DataType.BYTES, b"\x00\xff\x10", timestamp=T0, metadata=MetaData(content_type="x/y", size=3)
    ),
    Metric("file", DataType.FILE, b"PK\x03\x04", timestamp=T0),
    Metric("a_i8", DataType.INT8_ARRAY, (-128, 0, 127), timestamp=T0),
    Metric("a_i16", DataType.INT16_ARRAY, (-32768, 32767), timestamp=T0),
    Metric("a_i32", DataType.INT32_ARRAY, (-1, 315_338_746), timestamp=T0),
    Metric("a_i64", DataType.INT64_ARRAY, (-(2**63), 2**63 - 1), timestamp=T0),
    Metric("a_u8", DataType.UINT8_ARRAY, (0, 255), timestamp=T0),
    Metric("a_u16", DataType.UINT16_ARRAY, (30, 52_360), timestamp=T0),
    Metric("a_u32", DataType.UINT32_ARRAY, (0, 2**32 - 1), timestamp=T0),
    Metric("a_u64", DataType.UINT64_ARRAY, (0, 2**64 - 1), timestamp=T0),
    Metric("a_f32", DataType.FLOAT_ARRAY, (0.5, -1.25), timestamp=T0),
    Metric("a_f64", DataType.DOUBLE_ARRAY, (0.1, -2.5e300), timestamp=T0),
    Metric(
        "a_bool",
        DataType.BOOLEAN_ARRAY,
        (False, False, True, True, False, True, False, False, True, True, False),
    ),
    Metric("a_str", DataType.STRING_ARRAY, ("ABC", "hello", ""), timestamp=T0),
    Metric("a_dt", DataType.DATETIME_ARRAY, (T0, T0 + 1), timestamp=T0),
    Metric("null_double", DataType.DOUBLE, None, timestamp=T0),
    Metric(
        "with_props",
        DataType.DOUBLE,
        1.5,
        timestamp=T0,
        properties=property_set({"engUnit": PropertyValue(DataType.STRING, "mm/s")}),
    ),
    Metric("replayed", DataType.DOUBLE, 2.5, timestamp=T0 - 60_000, is_historical=True),
    Metric("transient", DataType.INT32, 7, timestamp=T0, is_transient=True),
)


# -- the tool environment -------------------------------------------------------------


def _run(args: list[str], what: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed ({result.returncode}): {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def _build_env() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".iiot-interop-stamp"
    wanted = REQUIREMENTS.read_text(encoding="utf-8") + f"\npython {sys.version_info[:2]}\n"
    lock_name = "iiot-interop-" + hashlib.sha256(str(VENV).encode()).hexdigest()[:12] + ".lock"
    with (Path(tempfile.gettempdir()) / lock_name).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        if Path(uv).exists():
            _run([uv, "venv", "--quiet", "--python", sys.executable, str(VENV)], "creating the interop venv")
            _run(
                [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(REQUIREMENTS)],
                "installing pysparkplug into the interop venv",
            )
        else:
            _run([sys.executable, "-m", "venv", str(VENV)], "creating the interop venv")
            _run(
                [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], "installing pysparkplug"
            )
        stamp.write_text(wanted, encoding="utf-8")
    return python


@pytest.fixture(scope="module")
def tool_python() -> Path:
    python = _build_env()
    if not python.exists():
        pytest.fail(f"interop environment has no interpreter at {python}")
    return python


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sparkplug-interop-") as tmp:
        yield Path(tmp)


def _tool(python: Path, mode: str, messages: list[dict[str, Any]], workdir: Path) -> list[Any]:
    request = workdir / f"{mode}-request.json"
    request.write_text(json.dumps({"messages": messages}), encoding="utf-8")
    out = json.loads(_run([str(python), str(TOOL), mode, str(request)], f"pysparkplug_tool {mode}"))
    return list(out["result"])


# -- JSON forms, matching pysparkplug_tool.py ----------------------------------------------


def _value_json(value: object) -> object:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _metric_json(
    metric: Metric, *, name: str | None = None, datatype: DataType | None = None
) -> dict[str, Any]:
    return {
        "name": name if name is not None else metric.name,
        "alias": metric.alias,
        "timestamp": metric.timestamp,
        "datatype": (datatype or metric.datatype).name,
        "value": _value_json(metric.value),
        "is_historical": metric.is_historical,
        "is_transient": metric.is_transient,
        "is_null": metric.is_null,
    }


def _spec(metric: Metric) -> dict[str, Any]:
    spec = _metric_json(metric)
    del spec["is_null"]
    return spec


def _comparable(metric: Metric) -> tuple[object, ...]:
    return (
        metric.name,
        metric.alias,
        metric.timestamp,
        metric.datatype,
        metric.value,
        metric.is_historical,
        metric.is_transient,
    )


# -- our bytes, their decoder ----------------------------------------------------------------


def test_pysparkplug_decodes_what_we_encode(tool_python: Path, workdir: Path) -> None:
    table = AliasTable()
    node = table.aliased(ALL_TYPES)
    device = table.aliased(
        [
            Metric("rpm", DataType.UINT32, 1480, timestamp=T0),
            Metric("temp", DataType.FLOAT, 61.25, timestamp=T0),
        ],
        device_id="motor-1",
    )
    files = {
        "nbirth": encode_nbirth(node, bd_seq=9, timestamp=T0),
        "ndata": encode_ndata(node[:5] + node[17:30], seq=1, timestamp=T0 + 1),
        "dbirth": encode_dbirth(device, seq=2, timestamp=T0 + 2),
        "ddata": encode_ddata(device, seq=3, timestamp=T0 + 3),
        "ddeath": encode_ddeath(seq=4, timestamp=T0 + 4),
        "ncmd": encode_rebirth_request(timestamp=T0 + 5),
        "dcmd": encode_dcmd([Metric("setpoint", DataType.DOUBLE, 55.5)], timestamp=T0 + 6),
        "ndeath": encode_ndeath(9, timestamp=T0 + 7),
        "state": encode_state(HostState(online=True, timestamp=T0 + 8)),
    }
    for name, data in files.items():
        (workdir / name).write_bytes(data)

    def item(kind: str, name: str, birth: str | None = None) -> dict[str, Any]:
        return {
            "kind": kind,
            "file": str(workdir / name),
            "birth_file": str(workdir / birth) if birth else None,
        }

    decoded = _tool(
        tool_python,
        "decode",
        [
            item("NBIRTH", "nbirth"),
            item("NDATA", "ndata", "nbirth"),
            item("DBIRTH", "dbirth"),
            item("DDATA", "ddata", "dbirth"),
            item("DDEATH", "ddeath"),
            item("NCMD", "ncmd"),
            item("DCMD", "dcmd"),
            item("NDEATH", "ndeath"),
            item("STATE", "state"),
        ],
        workdir,
    )
    nbirth, ndata, dbirth, ddata, ddeath, ncmd, dcmd, ndeath, state = decoded

    assert (nbirth["timestamp"], nbirth["seq"]) == (T0, 0)
    assert nbirth["metrics"][0] | {"timestamp": None} == {
        "name": "bdSeq",
        "alias": None,
        "timestamp": None,
        "datatype": "INT64",
        "value": 9,
        "is_historical": False,
        "is_transient": False,
        "is_null": False,
    }
    assert nbirth["metrics"][1]["name"] == "Node Control/Rebirth"
    assert nbirth["metrics"][1]["value"] is False
    assert nbirth["metrics"][2:] == [_metric_json(m) for m in node]

    assert (ndata["timestamp"], ndata["seq"]) == (T0 + 1, 1)
    assert ndata["metrics"] == [
        _metric_json(m) for m in node[:5] + node[17:30]
    ]  # names and types from the birth
    assert dbirth["seq"] == 2
    assert dbirth["metrics"] == [_metric_json(m) for m in device]
    assert ddata["seq"] == 3
    assert ddata["metrics"] == [_metric_json(m) for m in device]
    assert ddeath == {"timestamp": T0 + 4, "seq": 4, "metrics": []}
    assert ncmd["metrics"][0]["name"] == "Node Control/Rebirth"
    assert ncmd["metrics"][0]["value"] is True
    assert ncmd["seq"] is None
    assert dcmd["metrics"][0]["value"] == 55.5
    assert ndeath["metrics"][0]["name"] == "bdSeq"
    assert ndeath["metrics"][0]["value"] == 9
    assert state == {"online": True, "timestamp": T0 + 8}


# -- their bytes, our decoder ----------------------------------------------------------------


def test_we_decode_what_pysparkplug_encodes(tool_python: Path, workdir: Path) -> None:
    born = tuple(
        Metric(
            m.name,
            m.datatype,
            m.value,
            alias=i + 1,
            timestamp=m.timestamp,
            is_historical=m.is_historical,
            is_transient=m.is_transient,
        )
        for i, m in enumerate(ALL_TYPES)
    )
    control = (
        Metric("bdSeq", DataType.INT64, 4, timestamp=T0),
        Metric("Node Control/Rebirth", DataType.BOOLEAN, False, timestamp=T0),
    )
    by_alias = tuple(
        Metric(None, m.datatype, m.value, alias=m.alias, timestamp=m.timestamp) for m in born[:12]
    )
    device = (Metric("rpm", DataType.UINT32, 1480, alias=100, timestamp=T0),)
    messages: list[dict[str, Any]] = [
        {"kind": "NBIRTH", "timestamp": T0, "seq": 0, "metrics": [_spec(m) for m in control + born]},
        {"kind": "NDATA", "timestamp": T0 + 1, "seq": 1, "metrics": [_spec(m) for m in by_alias]},
        {"kind": "DBIRTH", "timestamp": T0 + 2, "seq": 2, "metrics": [_spec(m) for m in device]},
        {
            "kind": "DDATA",
            "timestamp": T0 + 3,
            "seq": 3,
            "metrics": [_spec(m) for m in device],
            "include_dtypes": True,
        },
        {"kind": "DDEATH", "timestamp": T0 + 4, "seq": 4},
        {
            "kind": "NCMD",
            "timestamp": T0 + 5,
            "metrics": [_spec(Metric("Node Control/Rebirth", DataType.BOOLEAN, True, timestamp=T0 + 5))],
        },
        {"kind": "NDEATH", "timestamp": T0 + 6, "metrics": [_spec(Metric("bdSeq", DataType.INT64, 4))]},
        {"kind": "STATE", "timestamp": T0 + 7, "online": False},
    ]
    for i, message in enumerate(messages):
        message["file"] = str(workdir / f"{i}-{message['kind']}")
    _tool(tool_python, "encode", messages, workdir)
    data = [Path(message["file"]).read_bytes() for message in messages]

    host = AliasTable()
    nbirth = decode_message(MessageType.NBIRTH, data[0])
    host.learn(nbirth.metrics)
    assert (nbirth.seq, nbirth.timestamp, nbirth.bd_seq, nbirth.rebirth_requested) == (0, T0, 4, False)
    assert [_comparable(m) for m in nbirth.metrics[2:]] == [_comparable(m) for m in born]

    ndata = decode_message(MessageType.NDATA, data[1], aliases=host)
    assert ndata.seq == 1
    assert [_comparable(m) for m in ndata.metrics] == [
        _comparable(m)
        for m in (
            Metric(b.name, b.datatype, b.value, alias=b.alias, timestamp=b.timestamp) for b in born[:12]
        )
    ]

    dbirth = decode_message(MessageType.DBIRTH, data[2])
    host.learn(dbirth.metrics, device_id="motor-1")
    ddata = decode_message(MessageType.DDATA, data[3], aliases=host, device_id="motor-1")
    assert [_comparable(m) for m in ddata.metrics] == [_comparable(m) for m in device]

    ddeath = decode_message(MessageType.DDEATH, data[4])
    assert (ddeath.seq, ddeath.timestamp, ddeath.metrics) == (4, T0 + 4, ())
    assert decode_message(MessageType.NCMD, data[5]).rebirth_requested
    assert decode_message(MessageType.NDEATH, data[6]).bd_seq == 4
    assert decode_state(data[7]) == HostState(online=False, timestamp=T0 + 7)
