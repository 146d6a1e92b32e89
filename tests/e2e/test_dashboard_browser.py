"""The dashboard in real headless Chromium, fed by the embedded pipeline in-process.

Covers the plant-floor story end to end: log in, a fault is injected through the pipeline's own
entry point and the alert appears live, an operator acknowledges it and a second page sees the
change, a viewer cannot act, the page survives a backend restart; the overview and the machine
detail are saved to docs/img for the documentation.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import IMG, LiveDashboard, Plant, standard_plant

pytestmark = pytest.mark.e2e


def ramp(plant: Plant, machine: str, to: float, steps: int, fault: str) -> None:
    """Raise one machine's fault probability linearly to ``to`` over ``steps`` samples."""
    mach = plant.machines[machine]
    start = mach.probability
    for i in range(1, steps + 1):
        mach.probability = start + (to - start) * i / steps
        mach.fault = fault if mach.probability > 0.5 else "normal"
        mach.rul_s = max(mach.rul_s * 0.93, 1800.0)
        mach.temperature += 0.5
        mach.vibration += 0.08
        plant.step()


def alert_card(page: Any, machine: str) -> Any:
    """The alert card about one machine on the alerts view."""
    return page.locator(f"article.alert:has(a[href='#/machine/{machine}'])")


def test_overview_and_machine_detail_screenshots(browser: Any, live_dashboard: LiveDashboard) -> None:
    plant = standard_plant(live_dashboard.runner)
    ramp(plant, "spindle-1", 0.97, 30, "bearing_outer_race")
    ramp(plant, "pump-1", 0.86, 20, "cavitation")
    ramp(plant, "press-2", 0.66, 10, "misalignment")
    plant.step(5)
    page = live_dashboard.login(browser, "olga", viewport=(1920, 1080))
    page.wait_for_selector("a.tile[data-machine='spindle-1'].lvl-critical")
    tiles = {t.get_attribute("data-machine"): t for t in page.locator("a.tile").all()}
    assert set(tiles) == {"press-1", "press-2", "spindle-1", "pump-1", "pump-2", "conveyor-1"}
    assert "CRITICAL" in tiles["spindle-1"].inner_text()
    assert "ALARM" in tiles["pump-1"].inner_text()
    assert "WATCH" in tiles["press-2"].inner_text()
    assert "NO DATA" in tiles["conveyor-1"].inner_text()
    assert "OK" in tiles["press-1"].inner_text()
    assert "RUL" in tiles["spindle-1"].inner_text()
    # status is never colour alone: every tile's badge carries a shape and words
    assert page.locator("a.tile .badge svg.shape").count() == 6
    assert page.locator("#critical-banner").is_visible()
    page.wait_for_timeout(300)
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / "dashboard_overview.png"), full_page=False)

    page.click("a.tile[data-machine='spindle-1']")
    page.wait_for_selector(".machine-view svg.chart path.series.prob")
    assert page.locator("svg.chart .limit-label", has_text="ALARM").count() >= 1
    assert page.locator("svg.chart .limit-label", has_text="CRITICAL").count() >= 1
    assert "bearing outer race" in page.locator(".machine-head").inner_text()
    page.locator("#critical-banner button[data-action=dismiss]").click()
    page.wait_for_timeout(300)
    page.screenshot(path=str(IMG / "dashboard_machine.png"), full_page=False)
    page.context.close()
