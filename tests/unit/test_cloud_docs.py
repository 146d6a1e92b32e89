"""docs/INFLUXDB_SCHEMA.md and docs/CLOUD.md say what the code does."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.processing.alert_lifecycle import OPERATOR_TRANSITIONS
from cloud.storage.schema import MEASUREMENTS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def schema_rows() -> dict[str, str]:
    rows = {}
    for line in (DOCS / "INFLUXDB_SCHEMA.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `") and line.count("|") == 6:  # the measurement table, not retention
            name = line.split("|")[1].strip().strip("`")
            rows[name] = line
    return rows


@pytest.mark.parametrize("measurement", sorted(MEASUREMENTS))
def test_schema_doc_lists_every_tag_and_field(measurement: str) -> None:
    rows = schema_rows()
    assert measurement in rows, f"{measurement} missing from docs/INFLUXDB_SCHEMA.md"
    row = rows[measurement]
    spec = MEASUREMENTS[measurement]
    cells = row.split("|")
    tags, fields = cells[3], cells[5]
    for tag in spec.tag_keys:
        assert f"`{tag}`" in tags, f"tag {tag} of {measurement} not documented"
    if "same fields as" not in fields:
        for f in spec.fields:
            assert f"`{f.name}`" in fields, f"field {f.name} of {measurement} not documented"
    assert f"({spec.precision})" in cells[4]
    assert spec.record_type.__name__ in cells[2]


def test_schema_doc_has_no_stale_measurement() -> None:
    assert set(schema_rows()) == set(MEASUREMENTS)


def test_cloud_doc_names_every_operator_action_and_the_commands() -> None:
    text = (DOCS / "CLOUD.md").read_text(encoding="utf-8")
    for action, _ in OPERATOR_TRANSITIONS:
        assert action.value in text
    for command in ("iiot cloud bridge", "iiot cloud worker", "iiot cloud embedded"):
        assert command in text
