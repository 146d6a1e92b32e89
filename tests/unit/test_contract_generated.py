"""The committed generated code matches the .proto files and the pinned tools."""

from __future__ import annotations

import importlib

import pytest

from proto import generate
from proto.sparkplug.datatypes import DataType
from proto.sparkplug_b import sparkplug_b_pb2


def test_generated_code_is_fresh() -> None:
    stale = generate.stale_files()
    assert not stale, (
        "generated protobuf code is stale; run `python -m proto.generate` and commit:\n  "
        + "\n  ".join(stale)
    )


def test_generated_files_carry_the_tool_versions() -> None:
    tools, protoc = generate.tool_versions()
    header = (generate.PROTO_ROOT / "iiot" / "v1" / "detection_pb2.py").read_text().splitlines()[0]
    assert f"grpcio-tools {tools}" in header
    assert protoc in header


@pytest.mark.parametrize(
    "module",
    [
        "proto.iiot.v1.alert_pb2",
        "proto.iiot.v1.dead_letter_pb2",
        "proto.iiot.v1.deployment_pb2",
        "proto.iiot.v1.detection_pb2",
        "proto.iiot.v1.model_service_pb2",
        "proto.iiot.v1.model_service_pb2_grpc",
        "proto.iiot.v1.prediction_pb2",
        "proto.iiot.v1.telemetry_pb2",
        "proto.twin.v1.camera_pb2",
        "proto.twin.v1.sensors_pb2",
        "proto.twin.v1.truth_pb2",
        "proto.sparkplug_b.sparkplug_b_pb2",
    ],
)
def test_generated_modules_import_inside_the_package(module: str) -> None:
    importlib.import_module(module)


def test_fix_imports_rewrites_only_our_packages() -> None:
    source = (
        "from iiot.v1 import model_pb2 as iiot_dot_v1_dot_model__pb2\n"
        "from google.protobuf import descriptor as _descriptor\n"
        "from twin.v1 import camera_pb2 as _camera_pb2\n"
    )
    fixed = generate.fix_imports(source, ["iiot", "twin"])
    assert fixed.splitlines() == [
        "from proto.iiot.v1 import model_pb2 as iiot_dot_v1_dot_model__pb2",
        "from google.protobuf import descriptor as _descriptor",
        "from proto.twin.v1 import camera_pb2 as _camera_pb2",
    ]


def test_sparkplug_datatype_enum_matches_the_proto() -> None:
    wire = {v.name: v.number for v in sparkplug_b_pb2.DataType.DESCRIPTOR.values}
    ours = {dt.name: dt.value for dt in DataType}
    normalized = {name.replace("_", "").lower(): number for name, number in ours.items()}
    assert normalized == {name.lower(): number for name, number in wire.items()}
    assert len(wire) == 35


def test_model_service_has_the_contract_rpcs() -> None:
    from proto.iiot.v1 import model_service_pb2

    service = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"]
    methods = {m.name: (m.client_streaming, m.server_streaming) for m in service.methods}
    assert methods == {
        "ListModels": (False, False),
        "GetManifest": (False, False),
        "Download": (False, True),
        "ReportStatus": (False, False),
        "WatchTargets": (False, True),
    }
