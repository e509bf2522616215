"""Retry with an edited input on a refused shipment, in Chromium: the dialog offers both
"finish compensating" and "start a new saga with this input", says what each does, and the
new saga is where the page goes; the two sagas link to each other."""

from __future__ import annotations

import json
import re

import pytest

from .pages import LONG, button, live

expect = pytest.importorskip("playwright.sync_api").expect


def test_the_edit_dialog_offers_a_new_saga_that_goes_through(page, stack):
    # Refused at the pivot, and its refund (C2) keeps failing: failed while compensating.
    old = stack.start_saga(
        {"fail_at": "ship", "stuck": "charge", "message": "carrier refused"}, "restart-1"
    )
    page.goto(f"{stack.url}/sagas/{old['id']}/")
    live(page)
    expect(page.locator("#saga-status")).to_have_text("failed", timeout=LONG)
    edit = button(page, "retry_with_input")
    expect(edit).to_be_visible(timeout=LONG)
    expect(button(page, "restart")).to_be_visible()
    edit.click()

    choice = page.locator("#dialog-choice")
    expect(choice).to_be_visible()
    finish, new = page.locator("#choice-finish"), page.locator("#choice-new")
    expect(finish).to_be_checked()
    expect(page.locator("#choice-finish-text")).to_contain_text(
        "runs the compensation of step 2 (charge) again"
    )
    expect(page.locator("#choice-finish-text")).to_contain_text("does not go forward again")
    expect(page.locator("#choice-new-text")).to_contain_text(
        "starts a new shipment saga from its first step with this input"
    )
    expect(page.locator("#dialog-confirm")).to_have_text("Confirm: Retry with edited input")

    new.check()
    expect(page.locator("#dialog-confirm")).to_have_text(
        "Confirm: Start a new saga with edited input"
    )
    expect(page.locator("#dialog-effect")).to_contain_text("this one stays failed")
    page.locator("#dialog-input").fill(json.dumps({"message": "carrier accepted"}))
    expect(page.locator("#dialog-input-status")).to_contain_text("against the current input")
    page.fill("#dialog-reason", "the customer picked another carrier")
    page.locator("#dialog-confirm").dblclick()  # a double click is one new saga

    # The page goes to the new saga, which links back and goes through.
    another = re.compile(rf"/sagas/(?!{old['id']})[0-9a-f-]{{36}}/$")
    expect(page).to_have_url(another, timeout=LONG)
    new_id = page.url.rstrip("/").rsplit("/", 1)[1]
    back = page.locator("#restarted-from a")
    expect(back).to_have_attribute("href", f"/sagas/{old['id']}/", timeout=LONG)
    expect(page.locator("#saga-status")).to_have_text("completed", timeout=LONG)
    assert stack.saga(new_id)["input"] == {"message": "carrier accepted"}

    back.click()
    expect(page).to_have_url(f"{stack.url}/sagas/{old['id']}/")
    expect(page.locator("#saga-status")).to_have_text("failed")  # left as it was
    forward = page.locator("#restarted-as a")
    expect(forward).to_have_count(1)  # one new saga for the double click
    expect(forward).to_have_attribute("href", f"/sagas/{new_id}/")
    audit = page.locator('#audit-rows tr[data-action="restart"]')
    expect(audit).to_contain_text("the customer picked another carrier")


def test_a_compensated_saga_says_there_is_nothing_left_to_finish(page, stack):
    old = stack.start_saga({"fail_at": "ship", "message": "carrier refused"}, "restart-2")
    page.goto(f"{stack.url}/sagas/{old['id']}/")
    expect(page.locator("#saga-status")).to_have_text("compensated", timeout=LONG)
    expect(button(page, "retry_with_input")).to_have_count(0)
    button(page, "restart").click()
    expect(page.locator("#dialog-choice")).to_be_visible()
    expect(page.locator("#choice-finish")).to_be_disabled()
    expect(page.locator("#choice-new")).to_be_checked()
    expect(page.locator("#choice-finish-text")).to_contain_text("compensated already")
    expect(page.locator("#choice-new-text")).to_contain_text("this one stays compensated")
    # The same input is a fine start for a new saga: confirm waits only for a reason.
    expect(page.locator("#dialog-input-status")).to_have_text("The same input as this saga's.")
    expect(page.locator("#dialog-confirm")).to_be_enabled()
    page.keyboard.press("Escape")
    expect(page.locator("#action-dialog")).to_be_hidden()
