"""A live page ends with its session, in Chromium against daphne and channels-redis: logging
out in one tab closes the other tab's socket, and the page says so instead of retrying."""

from __future__ import annotations

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

LONG = 60_000  # ms; a bound on a loaded machine, not a measurement


def test_logging_out_in_one_tab_ends_the_live_page_in_another(page, stack):
    other = page.context.new_page()
    other.goto(f"{stack.url}/bulk/")
    page.goto(f"{stack.url}/sagas/")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live", timeout=LONG)
    other.click("form.logout button")
    other.wait_for_url(f"{stack.url}/login/")
    expect(status).to_have_attribute("data-state", "closed", timeout=LONG)
    expect(status).to_have_text("not logged in as staff: log in again")
    page.wait_for_timeout(2000)  # longer than the first reconnect delay: none comes
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_have_attribute("data-reconnects", "0")
