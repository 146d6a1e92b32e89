"""The dashboard in real headless Chromium, fed by the embedded pipeline in-process.

Covers the plant-floor story end to end: log in, a fault is injected through the pipeline's own
entry point and the alert appears live, an operator acknowledges it and a second page sees the
change, a viewer cannot act, the page survives a backend restart; the overview and the machine
detail are saved to docs/img for the documentation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Fixtures (tests/e2e/conftest.py): browser (headless Chromium), live_dashboard (server + embedded
# runner; typed Any here), make_plant (scripted edge nodes feeding it), img_dir (docs/img).
Plant = Any
LiveDashboard = Any


pytestmark = pytest.mark.e2e


def alert_card(page: Any, machine: str) -> Any:
    """The alert card about one machine on the alerts view."""
    return page.locator(f"article.alert:has(a[href='#/machine/{machine}'])")


def test_overview_and_machine_detail_screenshots(
    browser: Any, live_dashboard: LiveDashboard, make_plant: Callable[[int], Plant], img_dir: Path
) -> None:
    plant = make_plant(20)
    plant.ramp("spindle-1", 0.97, 30, "bearing_outer_race")
    plant.ramp("pump-1", 0.86, 20, "cavitation")
    plant.ramp("press-2", 0.66, 10, "misalignment")
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
    page.screenshot(path=str(img_dir / "dashboard_overview.png"), full_page=False)

    page.click("a.tile[data-machine='spindle-1']")
    page.wait_for_selector(".machine-view svg.chart path.series.prob")
    assert page.locator("svg.chart .limit-label", has_text="ALARM").count() >= 1
    assert page.locator("svg.chart .limit-label", has_text="CRITICAL").count() >= 1
    assert "bearing outer race" in page.locator(".machine-head").inner_text()
    page.locator("#critical-banner button[data-action=dismiss]").click()
    page.wait_for_timeout(300)
    page.screenshot(path=str(img_dir / "dashboard_machine.png"), full_page=False)
    page.context.close()


def test_injected_fault_appears_live_ack_propagates_and_viewer_cannot_act(
    browser: Any, live_dashboard: LiveDashboard, make_plant: Callable[[int], Plant]
) -> None:
    plant = make_plant(6)
    olga = live_dashboard.login(browser, "olga")
    otto = live_dashboard.login(browser, "otto")
    vera = live_dashboard.login(browser, "vera")
    for page in (olga, otto, vera):
        page.click("nav a[data-route=alerts]")
        page.wait_for_selector("main[data-view=alerts]")
    assert alert_card(olga, "pump-2").count() == 0

    # the fault: pump-2's predicted failure probability crosses the critical band, fed through the pipeline
    plant.ramp("pump-2", 0.98, 6, "impeller_wear")

    for page in (olga, otto, vera):
        card = alert_card(page, "pump-2")
        card.wait_for(timeout=10_000)
        assert card.get_attribute("data-state") == "active"
        banner = page.locator("#critical-banner")
        banner.wait_for(state="visible", timeout=10_000)
        assert "pump-2" in banner.inner_text()
    assert alert_card(vera, "pump-2").locator("button[data-action=ack]").count() == 0
    assert vera.locator("#critical-banner button[data-action=ack]").count() == 0

    # an operator acknowledges; the other operator's page sees it change without reloading
    alert_card(olga, "pump-2").locator("button[data-action=ack]").click()
    otto.wait_for_selector(
        "article.alert:has(a[href='#/machine/pump-2'])[data-state=acknowledged]", timeout=10_000
    )
    olga.wait_for_selector(
        "article.alert:has(a[href='#/machine/pump-2'])[data-state=acknowledged]", timeout=10_000
    )
    vera.wait_for_selector(
        "article.alert:has(a[href='#/machine/pump-2'])[data-state=acknowledged]", timeout=10_000
    )
    assert otto.locator("#critical-banner").is_hidden()
    history = alert_card(otto, "pump-2").locator("details.alert-history")
    history.locator("summary").click()
    assert "olga" in history.inner_text()

    # the viewer cannot act, even by forging the request from her own logged-in page
    alert_id = alert_card(vera, "pump-2").get_attribute("data-alert-id")
    forged = vera.evaluate(
        """async (id) => {
            const session = await (await fetch('/api/v1/session')).json();
            const r = await fetch(`/api/v1/alerts/${id}/actions`, {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token},
                body: JSON.stringify({action: 'clear'}),
            });
            return r.status;
        }""",
        alert_id,
    )
    assert forged == 403

    # the processor applied it (same lifecycle code), stored it, and every page agrees; history keeps who
    stored = [a for a in live_dashboard.storage.alerts(open_only=True) if a.alert_id == alert_id]
    assert stored
    assert stored[0].state.value == "acknowledged"
    assert [(h.action.value, h.who) for h in stored[0].history if h.who != "system"] == [("ack", "olga")]

    # a note and a shelve from the second operator travel the same way
    card = alert_card(otto, "pump-2")
    card.locator("input.note-text").fill("bearing ordered, swap at 14:00")
    card.locator("button[data-action=note]").click()
    olga.wait_for_function(
        "() => [...document.querySelectorAll('article.alert .history')]"
        ".some(e => e.textContent.includes('swap at 14:00'))",
        timeout=10_000,
    )
    alert_card(otto, "pump-2").locator("button[data-action=shelve]").click()
    olga.wait_for_selector(
        "article.alert:has(a[href='#/machine/pump-2'])[data-state=shelved]", timeout=10_000
    )
    for page in (olga, otto, vera):
        page.context.close()


def test_page_reconnects_and_resyncs_after_a_backend_restart(
    browser: Any, live_dashboard: LiveDashboard, make_plant: Callable[[int], Plant]
) -> None:
    plant = make_plant(4)
    page = live_dashboard.login(browser, "otto")
    page.click("nav a[data-route=alerts]")
    live_dashboard.stop()
    page.wait_for_selector("#link[data-status=reconnecting]", timeout=10_000)
    assert "RECONNECTING" in page.locator("#link").inner_text()
    # while the web server is down the pipeline goes on: an alert is raised and stored
    plant.ramp("press-1", 0.97, 4, "seal_leak")
    time.sleep(0.5)
    live_dashboard.start()
    page.wait_for_selector("#link[data-status=live]", timeout=20_000)
    # what was missed while disconnected is loaded again from storage (resync on reconnect)
    alert_card(page, "press-1").wait_for(timeout=10_000)
    assert page.locator("#critical-banner").is_visible()
    page.context.close()


def test_defect_feed_and_edge_fleet(
    browser: Any, live_dashboard: LiveDashboard, make_plant: Callable[[int], Plant], img_dir: Path
) -> None:
    from simulators.camera import CameraRig

    plant = make_plant(4)
    plant.node_metrics("edge-l2", Outbox__messages=1250, Outbox__bytes=640_000, Frames__dropped=3)
    rig = CameraRig("cam-1", "L1", "press-1", seed=7, width=320, height=320)
    page = live_dashboard.login(browser, "vera", viewport=(1600, 1000))
    page.click("nav a[data-route=defects]")
    page.wait_for_selector("main[data-view=defects]")
    shown = 0
    for i in range(24):
        frame = rig.capture(plant.now_ms + i * 500, health=0.2, fault_type="bearing", machine_kind="press")
        boxes = [(b.class_name, 0.9, (int(b.x1), int(b.y1), int(b.x2), int(b.y2))) for b in frame.labels]
        shown += bool(frame.labels)
        plant.frame("edge-l1", "cam-1", "L1", frame.image, boxes)
    assert shown, "the rig drew no defects; pick another seed"
    page.wait_for_selector("#frames figure.frame.is-defect img", timeout=10_000)
    page.wait_for_function("() => document.querySelector('#frames img').naturalWidth > 0", timeout=10_000)
    assert page.locator("#frames figure.frame.is-defect .box.defect").count() >= 1
    # the defect rate per line comes from storage: the server's refresher pushes it to the open page
    page.wait_for_selector(".defect-line", timeout=10_000)
    page.reload()
    page.wait_for_selector(".defect-line", timeout=10_000)
    assert "LINE L1" in page.locator(".defect-line").first.inner_text()
    page.screenshot(path=str(img_dir / "dashboard_defects.png"))

    page.click("nav a[data-route=fleet]")
    row = page.locator("tr[data-node=edge-l2]")
    row.wait_for(timeout=10_000)
    assert "ONLINE" in row.inner_text()
    assert "1250 msgs" in row.inner_text()
    assert "fault-lstm 1.4.0" in row.inner_text()
    assert "detector 2.1.0" in page.locator("tr[data-node=edge-l1]").inner_text()
    page.context.close()
