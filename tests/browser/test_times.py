"""Times in the reader's time zone, with UTC on hover, and a toggle to UTC that this browser
remembers: in Chromium set to New York time (Playwright's timezone_id)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from .pages import LONG, live, page_as, wait_for_status

expect = pytest.importorskip("playwright.sync_api").expect

ZONE = "America/New_York"


def shown(iso: str, zone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime(fmt)


def clock(iso: str, zone: str) -> str:
    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def test_times_are_local_with_utc_on_hover_and_the_toggle_is_remembered(browser, stack):
    saga = stack.start_saga({}, "times")
    wait_for_status(stack, saga["id"], "completed")
    events = stack.saga(saga["id"])["events"]
    context, page, errors = page_as(browser, stack, "operator", timezone_id=ZONE)
    try:
        started = saga["created_at"]
        page.goto(f"{stack.url}/sagas/{saga['id']}/")
        live(page)
        head = page.locator(".saga-head time")
        toggle = page.locator("#time-zone")
        expect(toggle).to_have_text("Times: local")
        expect(head).to_have_text(shown(started, ZONE))
        utc_hover = f"{shown(started, 'UTC')}.{clock(started, 'UTC')[-3:]} UTC"
        expect(head).to_have_attribute("title", utc_hover)
        expect(page.locator(".saga-head [data-zone-name]")).to_have_text("local")
        first = page.locator(f'#events tr[data-event="{events[0]["id"]}"] time')
        expect(first).to_have_text(clock(events[0]["created_at"], ZONE))

        toggle.click()
        expect(toggle).to_have_text("Times: UTC")
        expect(head).to_have_text(shown(started, "UTC"))
        local_hover = f"{shown(started, ZONE)}.{clock(started, ZONE)[-3:]} {ZONE}"
        expect(head).to_have_attribute("title", local_hover)
        expect(first).to_have_text(clock(events[0]["created_at"], "UTC"))
        expect(page.locator(".saga-head [data-zone-name]")).to_have_text("UTC")

        # Remembered: another page of this browser shows UTC too.
        page.goto(f"{stack.url}/sagas/?type=shipment")
        live(page)
        row = page.locator(f'#saga-rows tr[data-id="{saga["id"]}"] time').first
        expect(row).to_have_text(shown(started, "UTC"))
        toggle.click()
        expect(row).to_have_text(shown(started, ZONE))
        expect(row).to_have_attribute("title", utc_hover)
        assert page.evaluate("localStorage.getItem('sagascope.times')") == "local"
        # A row that a live frame adds is written in the chosen zone as well.
        page.goto(f"{stack.url}/sagas/?q=times-live")
        live(page)
        later = stack.start_saga({}, "times-live")
        added = page.locator(f'#saga-rows tr[data-id="{later["id"]}"] time').first
        expect(added).to_have_text(shown(later["created_at"], ZONE), timeout=LONG)
    finally:
        context.close()
    assert not errors, errors
