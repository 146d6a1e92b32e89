"""Runs inside the separate interop environment (pysparkplug, its own protobuf and paho).

Never imported by the project: tests/interop/test_sparkplug_interop.py runs it with
that environment's Python.

    python pysparkplug_tool.py decode REQUEST.json   decode payload files, print JSON
    python pysparkplug_tool.py encode REQUEST.json   encode JSON specs into payload files

Value encoding in JSON: bytes as {"hex": "..."}, arrays as lists, DateTime as int ms.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import pysparkplug as psp

DATETIMES = {psp.DataType.DATETIME}
DATETIME_ARRAYS = {psp.DataType.DATETIME_ARRAY}

PAYLOAD_TYPES = {
    "NBIRTH": psp.NBirth,
    "DBIRTH": psp.DBirth,
    "NDATA": psp.NData,
    "DDATA": psp.DData,
    "NCMD": psp.NCmd,
    "DCMD": psp.DCmd,
    "NDEATH": psp.NDeath,
    "DDEATH": psp.DDeath,
    "STATE": psp.State,
}


def _ms(value: datetime.datetime) -> int:
    return round(value.timestamp() * 1000)


def _from_ms(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def value_to_json(datatype: psp.DataType, value: Any) -> Any:
    if value is None:
        return None
    if datatype in DATETIMES:
        return _ms(value)
    if datatype in DATETIME_ARRAYS:
        return [_ms(v) for v in value]
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, tuple):
        return list(value)
    return value


def value_from_json(datatype: psp.DataType, value: Any) -> Any:
    if value is None:
        return None
    if datatype in DATETIMES:
        return _from_ms(value)
    if datatype in DATETIME_ARRAYS:
        return tuple(_from_ms(v) for v in value)
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    if isinstance(value, list):
        return tuple(value)
    return value


def metric_to_json(metric: psp.Metric) -> dict[str, Any]:
    return {
        "name": metric.name,
        "alias": metric.alias,
        "timestamp": metric.timestamp,
        "datatype": metric.datatype.name,
        "value": value_to_json(metric.datatype, metric.value),
        "is_historical": metric.is_historical,
        "is_transient": metric.is_transient,
        "is_null": metric.is_null,
    }


def metric_from_json(spec: dict[str, Any]) -> psp.Metric:
    datatype = psp.DataType[spec["datatype"]]
    return psp.Metric(
        timestamp=spec.get("timestamp"),
        name=spec.get("name"),
        datatype=datatype,
        value=value_from_json(datatype, spec.get("value")),
        alias=spec.get("alias"),
        is_historical=spec.get("is_historical", False),
        is_transient=spec.get("is_transient", False),
        is_null=spec.get("value") is None,
    )


def decode(request: dict[str, Any]) -> list[dict[str, Any]]:
    births: dict[str, Any] = {}
    out = []
    for item in request["messages"]:
        kind = item["kind"]
        raw = Path(item["file"]).read_bytes()
        birth = births.get(item["birth_file"]) if item.get("birth_file") else None
        payload = PAYLOAD_TYPES[kind].decode(raw, birth=birth)
        if kind in ("NBIRTH", "DBIRTH"):
            births[item["file"]] = payload
        if kind == "STATE":
            out.append({"online": payload.online, "timestamp": payload.timestamp})
        elif kind == "NDEATH":
            out.append({"metrics": [metric_to_json(payload.bd_seq_metric)]})
        elif kind == "DDEATH":
            out.append({"timestamp": payload.timestamp, "seq": payload.seq, "metrics": []})
        else:
            out.append(
                {
                    "timestamp": payload.timestamp,
                    "seq": getattr(payload, "seq", None),
                    "metrics": [metric_to_json(m) for m in payload.metrics],
                }
            )
    return out


def encode(request: dict[str, Any]) -> list[str]:
    written = []
    for item in request["messages"]:
        kind = item["kind"]
        metrics = tuple(metric_from_json(m) for m in item.get("metrics", ()))
        if kind == "STATE":
            payload: Any = psp.State(timestamp=item["timestamp"], online=item["online"])
        elif kind == "NDEATH":
            payload = psp.NDeath(timestamp=item.get("timestamp"), bd_seq_metric=metrics[0])
        elif kind == "DDEATH":
            payload = psp.DDeath(timestamp=item["timestamp"], seq=item["seq"])
        elif kind in ("NCMD", "DCMD"):
            payload = PAYLOAD_TYPES[kind](timestamp=item["timestamp"], metrics=metrics)
        else:
            payload = PAYLOAD_TYPES[kind](timestamp=item["timestamp"], seq=item["seq"], metrics=metrics)
        Path(item["file"]).write_bytes(payload.encode(include_dtypes=item.get("include_dtypes", False)))
        written.append(item["file"])
    return written


def main() -> int:
    mode, request_path = sys.argv[1], sys.argv[2]
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    result = decode(request) if mode == "decode" else encode(request)
    json.dump({"pysparkplug": psp.__version__, "result": result}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
