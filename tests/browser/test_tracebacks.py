"""Tracebacks in Debian's Chromium: a staff user without the view_traceback permission is
told the traceback is hidden, where it would be; a superuser reads it."""

from __future__ import annotations

import pytest

from .pages import LONG, add_user, bars, live, page_as

expect = pytest.importorskip("playwright.sync_api").expect

HIDDEN = "traceback hidden: needs the view_traceback permission"


def open_failed_attempt(page, stack, saga):
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    expect(page.locator("#saga-status")).to_have_text("completed", timeout=LONG)
    live(page)
    failed = bars(page, "forward", "reserve", "failed").first
    failed.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#attempt-error")).to_contain_text("upstream reset the connection")


def test_read_only_staff_are_told_the_traceback_is_hidden(browser, stack):
    # reserve raises ConnectionError twice (a crash, so a traceback) before it succeeds.
    saga = stack.start_saga({"flaky": "reserve"}, "traceback-hidden")
    add_user(stack, "tracereader", superuser=False)
    context, page, errors = page_as(browser, stack, "tracereader")
    try:
        open_failed_attempt(page, stack, saga)
        expect(page.locator("#attempt-trace-hidden")).to_be_visible()
        expect(page.locator("#attempt-trace-hidden")).to_have_text(HIDDEN)
        expect(page.locator("#attempt-trace-box")).to_be_hidden()
        assert "Traceback (most recent call last)" not in page.content()
        assert not errors, errors
    finally:
        context.close()


def test_a_superuser_reads_the_traceback(page, stack):
    saga = stack.start_saga({"flaky": "reserve"}, "traceback-shown")
    open_failed_attempt(page, stack, saga)
    expect(page.locator("#attempt-trace-box")).to_be_visible()
    expect(page.locator("#attempt-trace-hidden")).to_be_hidden()
    page.locator("#attempt-trace-box summary").click()
    expect(page.locator("#attempt-traceback")).to_contain_text("ConnectionError")
    expect(page.locator("#attempt-traceback")).to_contain_text("Traceback (most recent call last)")
