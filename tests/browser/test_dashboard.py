"""The dashboard as an operator sees it: Debian's Chromium against a real daphne server and a
real worker. Steps that must happen in a given order wait on gates the test opens, so the
page and the worker never race."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid

import pytest

from .pages import LONG, PASSWORD, add_outbox_messages, bars, live, mark_loaded, never_reloaded

expect = pytest.importorskip("playwright.sync_api").expect

STEPS = ["reserve", "charge", "ship", "notify"]


def test_log_in(browser, stack):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{stack.url}/sagas/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/sagas/"))
    page.fill("#id_username", "operator")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("did not match")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{stack.url}/sagas/")
    live(page)
    context.close()


def test_a_saga_started_through_the_api_appears_on_the_open_list(page, stack):
    page.goto(f"{stack.url}/sagas/")
    live(page)
    mark_loaded(page)
    gates = stack.gate_dir()
    correlation = f"list-{uuid.uuid4().hex[:6]}"
    saga = stack.start_saga({"gates": str(gates)}, correlation)
    row = page.locator(f'#saga-rows tr[data-id="{saga["id"]}"]')
    expect(row).to_contain_text(correlation, timeout=LONG)
    expect(row.locator(".badge")).to_have_text("running")
    for step in STEPS:
        stack.open_gate(gates, step)
    expect(row.locator(".badge")).to_have_text("completed", timeout=LONG)
    never_reloaded(page)


def test_the_detail_page_turns_steps_green_in_order(page, stack):
    gates = stack.gate_dir()
    saga = stack.start_saga({"gates": str(gates)}, "green-in-order")
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    live(page)
    mark_loaded(page)
    expect(bars(page, "forward", "reserve", "waiting")).to_have_count(1, timeout=LONG)
    for i, step in enumerate(STEPS):
        stack.open_gate(gates, step)
        expect(bars(page, "forward", step, "succeeded")).to_have_count(1, timeout=LONG)
        for later in STEPS[i + 1 :]:  # still behind their gates
            assert bars(page, "forward", later, "succeeded").count() == 0
    expect(page.locator("#saga-status")).to_have_text("completed", timeout=LONG)
    never_reloaded(page)


def test_a_saga_failing_at_step_3_shows_compensations_2_and_1_in_their_lane(page, stack):
    saga = stack.start_saga({"fail_at": "ship", "flaky": "charge"}, "fails-at-3")
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    expect(page.locator("#saga-status")).to_have_text("compensated", timeout=LONG)
    rows = page.locator(".lane.compensation .row")
    expect(rows).to_have_count(2)
    assert [rows.nth(i).get_attribute("data-step") for i in range(2)] == ["charge", "reserve"]
    expect(rows.nth(0).locator(".label")).to_contain_text("C2")
    expect(rows.nth(1).locator(".label")).to_contain_text("C1")
    for step in ("charge", "reserve"):
        expect(bars(page, "compensation", step, "compensated")).to_have_count(1)
    # Retries are bars of their own: charge failed twice, then succeeded.
    expect(bars(page, "forward", "charge", "failed")).to_have_count(2)
    expect(bars(page, "forward", "charge", "succeeded")).to_have_count(1)
    expect(bars(page, "forward", "notify")).to_have_count(0)
    failed = bars(page, "forward", "ship", "failed")
    failed.focus()
    page.keyboard.press("Enter")  # keyboard reachable: a bar is a button
    expect(page.locator("#attempt-error")).to_contain_text("ship refused")
    expect(page.locator("#attempt-detail")).to_contain_text(f"{saga['id']}:ship:forward:1")


def test_the_page_catches_up_after_the_server_restarts(page, stack):
    gates = stack.gate_dir()
    saga = stack.start_saga({"gates": str(gates)}, "restart")
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    live(page)
    mark_loaded(page)
    stack.open_gate(gates, "reserve")
    expect(bars(page, "forward", "reserve", "succeeded")).to_have_count(1, timeout=LONG)
    stack.stop_server()
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "disconnected", timeout=LONG)
    for step in STEPS[1:]:
        stack.open_gate(gates, step)
    events = wait_until_completed(stack, saga["id"])
    stack.start_server()
    live(page)
    expect(status).to_contain_text("caught up")
    expect(page.locator("#saga-status")).to_have_text("completed")
    for step in STEPS:
        expect(bars(page, "forward", step, "succeeded")).to_have_count(1)
    expect(page.locator("#events tr")).to_have_count(events)  # every event, exactly once
    never_reloaded(page)


def wait_until_completed(stack, saga_id: str, timeout: float = 60) -> int:
    """With the server down, read the worker's progress from the database file itself;
    returns how many events the saga has."""
    deadline = time.monotonic() + timeout
    with sqlite3.connect(stack.db_file(), timeout=30) as db:
        while time.monotonic() < deadline:
            (status,) = db.execute(
                "SELECT status FROM sagas_sagainstance WHERE id = ?", [saga_id.replace("-", "")]
            ).fetchone()
            if status == "completed":
                (count,) = db.execute(
                    "SELECT count(*) FROM sagas_sagaevent WHERE saga_id = ?",
                    [saga_id.replace("-", "")],
                ).fetchone()
                return count
            time.sleep(0.2)
    raise AssertionError(f"saga {saga_id} did not complete while the server was down")


XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


def test_an_xss_payload_shows_as_text(page, stack):
    saga = stack.start_saga({"note": XSS, "fail_at": "reserve", "message": XSS}, XSS)
    page.goto(f"{stack.url}/sagas/")
    row = page.locator(f'#saga-rows tr[data-id="{saga["id"]}"]')
    expect(row).to_contain_text(XSS, timeout=LONG)
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    expect(page.locator("#saga-status")).to_have_text("compensated", timeout=LONG)
    expect(page.locator("#saga-input")).to_contain_text(json.dumps(XSS))  # as JSON text
    expect(page.locator("#correlation-id")).to_have_text(XSS)
    expect(page.locator("#saga-reason")).to_contain_text(XSS)
    bars(page, "forward", "reserve", "failed").click()
    expect(page.locator("#attempt-error")).to_contain_text(XSS)
    page.goto(f"{stack.url}/")
    expect(page.locator("#recent")).to_contain_text(XSS, timeout=LONG)
    assert page.evaluate("window.__xss === undefined")
    assert page.locator("img").count() == 0


def test_the_outbox_shows_waiting_messages_and_their_headers(page, stack):
    page.goto(f"{stack.url}/outbox/")
    live(page)
    mark_loaded(page)
    add_outbox_messages(stack)
    expect(page.locator("#pending")).to_have_text("3", timeout=LONG)
    expect(page.locator("#destinations tr")).to_have_count(2)
    page.locator("#messages button").first.click()
    expect(page.locator("#message-headers")).to_contain_text("traceparent")
    never_reloaded(page)
