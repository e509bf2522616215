"""The operator at 3 a.m., in Debian's Chromium: a saga stuck in `failed` after its
compensation ran out of retries is retried once the service is fixed and finishes before
their eyes; an edited input is diffed, confirmed and audited; two operators at once give
one effect; a bulk retry of 200 failed sagas shows its preview, progress and result; a
read-only user sees no buttons and is refused when posting anyway."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .pages import (
    LONG,
    add_user,
    bars,
    button,
    live,
    mark_loaded,
    never_reloaded,
    page_as,
    wait_for_sagas,
)

expect = pytest.importorskip("playwright.sync_api").expect

BULK_SAGAS = 200


def stuck_saga(stack, correlation: str, **input: Any) -> dict[str, Any]:
    """A shipment refused at the pivot whose refund (C2) keeps failing: it runs out of
    compensation retries and stops in `failed`."""
    body = {"fail_at": "ship", "stuck": "charge", "message": "carrier refused", **input}
    return stack.start_saga(body, correlation)


def test_retry_after_the_fix_finishes_a_saga_whose_compensation_ran_out_of_retries(page, stack):
    repaired = stack.gate_dir() / "payment-service-fixed"
    saga = stuck_saga(stack, "stuck-retry", repair=str(repaired))
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    live(page)
    mark_loaded(page)
    expect(page.locator("#saga-status")).to_have_text("failed", timeout=LONG)
    expect(bars(page, "compensation", "charge", "failed")).to_have_count(2)  # out of retries
    expect(page.locator("#saga-reason")).to_contain_text(
        "compensation of step 'charge' failed after 2 attempt(s)"
    )
    # The actions follow the saga live: offered once it failed, without a reload.
    retry = button(page, "retry")
    expect(retry).to_be_visible(timeout=LONG)
    expect(button(page, "cancel")).to_have_count(0)
    dialog = page.locator("#action-dialog")

    # Keyboard: the button opens the confirmation, Escape cancels it, nothing happens.
    retry.focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(page.locator("#dialog-reason")).to_be_focused()
    expect(page.locator("#dialog-effect")).to_contain_text(
        "runs the compensation of step 2 (charge) again with a new idempotency key"
    )
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".operator-row .marker")).to_have_count(0)

    repaired.touch()  # the payment service is fixed
    retry.click()
    page.fill("#dialog-reason", "payment service fixed")
    page.locator("#dialog-confirm").dblclick()  # a double click is one action
    expect(dialog).to_be_hidden()
    expect(page.locator("#action-result")).to_contain_text("Retry applied")
    expect(page.locator('.operator-row .marker[data-action="retry"]')).to_have_count(1)
    expect(bars(page, "compensation", "charge", "compensated")).to_have_count(1, timeout=LONG)
    expect(bars(page, "compensation", "reserve", "compensated")).to_have_count(1, timeout=LONG)
    expect(page.locator("#saga-status")).to_have_text("compensated", timeout=LONG)
    audit = page.locator("#audit-rows tr[data-action]")
    expect(audit).to_have_count(1)
    expect(audit).to_contain_text("payment service fixed")
    expect(audit).to_contain_text("failed → compensating")
    # The action's trace id; no link, as nothing exports traces here (test_traces.py).
    expect(audit.locator(".audit-trace code")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    expect(audit.locator(".audit-trace a")).to_have_count(0)
    expect(page.locator("#actions-none")).to_contain_text("allows none")
    never_reloaded(page)


def test_retry_with_edited_input_shows_the_diff_and_records_it(page, stack):
    saga = stuck_saga(stack, "stuck-edit")
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    expect(page.locator("#saga-status")).to_have_text("failed", timeout=LONG)
    live(page)
    mark_loaded(page)
    button(page, "retry_with_input").click()
    editor = page.locator("#dialog-input")
    expect(editor).to_be_focused()
    assert json.loads(editor.input_value()) == saga["input"]  # prefilled with the input
    status = page.locator("#dialog-input-status")
    confirm = page.locator("#dialog-confirm")
    expect(status).to_contain_text("No change")
    expect(confirm).to_be_disabled()

    editor.fill('{"fail_at": "ship",')
    expect(status).to_contain_text("not valid JSON")
    expect(confirm).to_be_disabled()
    editor.fill('["not", "an", "object"]')
    expect(status).to_contain_text("must be a JSON object")
    expect(confirm).to_be_disabled()

    edited = {"fail_at": "ship", "message": "carrier refused", "refund_via": "backup provider"}
    editor.fill(json.dumps(edited, indent=2))
    expect(status).to_contain_text("2 changes against the current input")
    diff = page.locator("#dialog-diff tbody tr")
    expect(diff).to_have_count(2)
    expect(diff.nth(0)).to_have_attribute("data-path", "refund_via")
    expect(diff.nth(0)).to_have_attribute("data-op", "added")
    expect(diff.nth(1)).to_have_attribute("data-path", "stuck")
    expect(diff.nth(1)).to_have_attribute("data-op", "removed")
    expect(diff.nth(1)).to_contain_text('"charge"')
    expect(confirm).to_be_enabled()
    confirm.click()  # without the required reason the browser refuses to send it
    expect(page.locator("#dialog-reason:invalid")).to_have_count(1)
    page.fill("#dialog-reason", "refund through the backup provider")
    confirm.click()
    expect(page.locator("#action-dialog")).to_be_hidden()
    expect(page.locator("#action-result")).to_contain_text("Retry with edited input applied")
    expect(page.locator("#saga-input")).to_contain_text("backup provider")
    expect(page.locator("#saga-input")).not_to_contain_text("stuck")
    expect(page.locator("#saga-status")).to_have_text("compensated", timeout=LONG)

    row = page.locator('#audit-rows tr[data-action="retry_with_input"]')
    expect(row).to_contain_text("refund through the backup provider")
    expect(row.locator(".audit-trace code")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    stored = page.locator("#audit-rows tr.audit-diff tbody tr")
    expect(stored).to_have_count(2)
    expect(stored.nth(1)).to_have_attribute("data-path", "stuck")
    expect(stored.nth(1)).to_have_attribute("data-op", "removed")
    assert stack.saga(saga["id"])["input"] == edited
    never_reloaded(page)


def test_two_operators_at_once_give_one_effect_and_the_other_a_clear_message(browser, page, stack):
    add_user(stack, "second", superuser=True)
    repaired = stack.gate_dir() / "fixed"
    saga = stuck_saga(stack, "two-operators", repair=str(repaired))
    url = f"{stack.url}/sagas/{saga['id']}/"
    page.goto(url)
    expect(page.locator("#saga-status")).to_have_text("failed", timeout=LONG)
    repaired.touch()  # so the resumed compensation ends the saga: no second chance to act
    context, other, errors = page_as(browser, stack, "second")
    try:
        # The second page does not learn of the change before it posts: its refresh of
        # the actions is cut, so only the server's version check stands in the way.
        other.route("**/operator/", lambda route: route.abort())
        other.goto(url)
        expect(other.locator("#saga-status")).to_have_text("failed")
        button(page, "resume").click()
        button(other, "resume").click()
        page.locator("#dialog-confirm").click()
        expect(page.locator("#action-result")).to_contain_text("Resume applied")
        other.locator("#dialog-confirm").click()
        error = other.locator("#dialog-error")
        expect(error).to_contain_text("Refused (409): The saga's version changed")
        expect(other.locator("#dialog-stale")).to_be_visible()
        expect(other.locator("#dialog-confirm")).to_be_disabled()
        other.locator("#dialog-review").click()  # the answer carried the saga as it is now
        expect(error).to_contain_text("Resume is not possible any more")
        expect(page.locator('.operator-row .marker[data-action="resume"]')).to_have_count(1)
        assert not errors, errors
    finally:
        context.close()
    events = stack.saga(saga["id"])["events"]
    assert [e["payload"]["action"] for e in events if e["type"] == "operator_action"] == ["resume"]


def test_a_bulk_retry_of_200_failed_sagas_shows_its_preview_progress_and_result(page, stack):
    repaired = stack.gate_dir() / "refunds-fixed"
    input = {"fail_at": "transfer", "stuck": "debit", "repair": str(repaired)}
    stack.manage(
        "shell",
        "-c",
        "from sagas.services.start import start_saga\n"
        f"for n in range({BULK_SAGAS}):\n"
        f"    start_saga('payout', {input!r}, correlation_id=f'payout-{{n:03d}}')\n",
    )
    wait_for_sagas(stack, "payout", "failed", BULK_SAGAS)

    page.goto(f"{stack.url}/sagas/?type=payout&status=failed")
    live(page)
    expect(page.locator("#saga-rows tr")).to_have_count(50)  # one page on screen...
    expect(page.locator("#bulk-matching")).to_have_text(str(BULK_SAGAS))  # ...all 200 counted
    page.check("#bulk-scope-filter")
    page.select_option("#bulk-action", "retry")
    page.fill("#bulk-reason", "the refund service is back")
    page.click("#bulk-preview-button")
    dialog = page.locator("#bulk-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#preview-total")).to_have_text(str(BULK_SAGAS))
    expect(page.locator("#preview-applicable")).to_have_text(str(BULK_SAGAS))
    expect(page.locator("#preview-skipped-total")).to_have_text("0")
    expect(page.locator('#preview-by-status li[data-status="failed"]')).to_contain_text("200")
    expect(page.locator("#bulk-dialog-what")).to_contain_text(
        "every saga of type payout with status failed"
    )
    repaired.touch()
    # No worker while the operation is queued, so its page shows it from the start.
    stack.stop_worker()
    try:
        page.locator("#bulk-confirm").click()
        expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
        mark_loaded(page)
        expect(page.locator("#bulk-status")).to_have_text("running")
        expect(page.locator("#bulk-done")).to_have_text("0")
        expect(page.locator("#outcome-pending")).to_have_text(str(BULK_SAGAS))
        expect(page.locator('#bulk-items tr[data-outcome="pending"]')).to_have_count(BULK_SAGAS)
    finally:
        stack.start_worker()
    expect(page.locator("#bulk-status")).to_have_text("done", timeout=LONG)
    expect(page.locator("#bulk-done")).to_have_text(str(BULK_SAGAS))
    expect(page.locator("#bulk-progress")).to_have_attribute("value", str(BULK_SAGAS))
    expect(page.locator("#outcome-applied")).to_have_text(str(BULK_SAGAS))
    expect(page.locator("#outcome-skipped")).to_have_text("0")
    items = page.locator('#bulk-items tr[data-outcome="applied"]')
    expect(items).to_have_count(BULK_SAGAS)
    expect(items.first.locator("a")).to_have_attribute("href", re.compile(r"^/sagas/[0-9a-f-]+/$"))
    never_reloaded(page)
    wait_for_sagas(stack, "payout", "compensated", BULK_SAGAS)


def test_a_read_only_user_sees_no_buttons_and_is_refused_when_posting(browser, stack):
    add_user(stack, "viewer", superuser=False)
    saga = stuck_saga(stack, "read-only")
    context, page, errors = page_as(browser, stack, "viewer")
    try:
        page.goto(f"{stack.url}/sagas/{saga['id']}/")
        expect(page.locator("#saga-status")).to_have_text("failed", timeout=LONG)
        live(page)
        expect(page.locator("#action-buttons button")).to_have_count(0)
        expect(page.locator("#actions-none")).to_contain_text("You may look but not act")
        status = page.evaluate(
            """async ([url, version]) => {
                const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
                const body = new FormData();
                body.append("version", String(version));
                const response = await fetch(url, {method: "POST", body,
                    headers: {"X-CSRFToken": token, Accept: "application/json"}});
                return [response.status, (await response.json()).detail];
            }""",
            [f"/sagas/{saga['id']}/retry/", stack.saga(saga["id"])["version"]],
        )
        assert status[0] == 403 and "lacks the permission sagas.retry_saga" in status[1]
        page.goto(f"{stack.url}/sagas/")
        live(page)
        expect(page.locator("#saga-rows tr").first).to_be_visible()
        expect(page.locator("#bulk-form")).to_have_count(0)
        expect(page.locator("input[name=ids]")).to_have_count(0)
        assert not errors, errors
    finally:
        context.close()
    assert stack.saga(saga["id"])["status"] == "failed"
