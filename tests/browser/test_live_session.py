"""A live page ends with its session, in Chromium against daphne and channels-redis: logging
out in one tab closes the other tab's socket, a session that ended while the server was away
is told apart from a server that is down, and either way the page says so, links to the
login that brings it back, and stops retrying."""

from __future__ import annotations

import pytest

from .pages import PASSWORD, live

expect = pytest.importorskip("playwright.sync_api").expect

LONG = 60_000  # ms; a bound on a loaded machine, not a measurement
ENDED = "your session ended: log in again"


def assert_ended_for_good(page, back_to: str) -> None:
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "closed", timeout=LONG)
    expect(status).to_have_text(ENDED)
    link = status.get_by_role("link", name="log in again")
    expect(link).to_have_attribute("href", f"/login/?next={back_to.replace('/', '%2F')}")
    reconnects = status.get_attribute("data-reconnects")
    # Longer than the longest reconnect delay (10 s with jitter): no attempt comes.
    page.wait_for_timeout(13_000)
    expect(status).to_have_attribute("data-reconnects", reconnects)
    expect(status).to_have_text(ENDED)


def test_logging_out_in_one_tab_ends_the_live_page_in_another(page, stack):
    other = page.context.new_page()
    other.goto(f"{stack.url}/bulk/")
    page.goto(f"{stack.url}/sagas/")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live", timeout=LONG)
    other.click("form.logout button")
    other.wait_for_url(f"{stack.url}/login/")
    expect(status).to_have_attribute("data-state", "closed", timeout=LONG)
    expect(status).to_have_text(ENDED)
    page.wait_for_timeout(2000)  # longer than the first reconnect delay: none comes
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_have_attribute("data-reconnects", "0")


def test_a_session_ended_while_the_server_was_down_is_said_not_retried(page, stack):
    saga = stack.start_saga({}, "session-ends")
    path = f"/sagas/{saga['id']}/"
    page.goto(f"{stack.url}{path}")
    live(page)
    stack.stop_server()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "disconnected")
    # As the demo does at each start: the operator gets a password (the same text, a new
    # hash), which ends every session; nobody is connected to be told.
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        "user = User.objects.get(username='operator')\n"
        f"user.set_password({PASSWORD!r})\n"
        "user.save()\n",
    )
    stack.start_server()
    # Each reconnect is now refused at the handshake (a bare 1006 in the browser).
    assert_ended_for_good(page, path)
    page.locator("#live-login").click()
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}{path}")
    live(page)
