"""The demo's alert settings in event time mean the same in wall time at any speed."""

from __future__ import annotations

import pytest

from cloud.settings import ProcessingSettings
from iiot.demo_plan import node_stale_after, processing_settings


@pytest.mark.parametrize(
    ("speed", "expected_s"),
    [
        (60.0, 3600),  # the default: a minute of wall time
        (600.0, 36_000),
        (20.0, 1200),
        (1.0, 1200),  # never below the warm-up's lag between the nodes (minutes of event time)
    ],
)
def test_stale_limit_is_the_wall_limit_in_event_time(speed: float, expected_s: int) -> None:
    assert node_stale_after(speed) == f"{expected_s}s"
    settings = ProcessingSettings(**processing_settings(speed, parts_per_minute=2.0))
    assert settings.processing_config().nodes.stale_after_ms == expected_s * 1000
