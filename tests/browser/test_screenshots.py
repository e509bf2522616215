"""Screenshots of every page for the README (docs/*.png), taken on a realistic mix: sagas
completed, compensated, failed (a compensation that keeps failing, retried once by an
operator from the page, then about to be retried with an edited input), retried steps, one
still running, messages in the outbox, and a bulk retry with its preview and result."""

from __future__ import annotations

import json

import pytest

from .pages import LONG, add_outbox_messages, bars, button, live, wait_for_sagas

expect = pytest.importorskip("playwright.sync_api").expect


def test_screenshots_of_every_page(page, stack, docs, tmp_path):
    # The overview, list and detail pictures in docs/ come from the live demo
    # (docs/screenshots.py); this test's own go to tmp_path, checked all the same.
    for n in range(6):
        stack.start_saga({"sleep": 0.05}, f"ord-{n:04d}")
    page.goto(f"{stack.url}/outbox/")
    live(page)
    if page.locator("#pending").inner_text() == "0":
        add_outbox_messages(stack)  # hangs them on the oldest saga: run alone, one from above
    stack.start_saga({"flaky": "charge"}, "ord-0006")
    declined = {"fail_at": "charge", "message": "card declined: 4154.51 is over the limit"}
    stack.start_saga(declined, "ord-0007")
    stack.start_saga({"fail_at": "ship", "message": "we do not ship to AQ"}, "ord-0008")
    broken = stack.start_saga(
        {
            "flaky": "charge",
            "fail_at": "ship",
            "stuck": "charge",
            "message": "carrier refused",
            "sleep": 0.08,
        },
        "ord-0009",
    )
    stack.start_saga({"gates": str(stack.gate_dir())}, "ord-0010")  # stays running

    page.goto(f"{stack.url}/sagas/{broken['id']}/")
    expect(page.locator("#saga-status")).to_have_text("failed", timeout=LONG)
    live(page)
    button(page, "retry").click()
    page.fill("#dialog-reason", "refund service restarted")
    page.locator("#dialog-confirm").click()
    expect(page.locator("#action-result")).to_contain_text("Retry applied")
    expect(page.locator(".operator-row .marker")).to_have_count(1)
    # Out of retries again: two more failed attempts of C2, then failed.
    expect(bars(page, "compensation", "charge", "failed")).to_have_count(4, timeout=LONG)
    expect(page.locator("#saga-status")).to_have_text("failed", timeout=LONG)
    expect(button(page, "retry_with_input")).to_be_visible(timeout=LONG)
    bars(page, "forward", "ship", "failed").click()
    page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)

    button(page, "retry_with_input").click()
    edited = {**broken["input"], "refund_via": "backup provider"}
    del edited["stuck"]
    page.fill("#dialog-input", json.dumps(edited, indent=2))
    expect(page.locator("#dialog-input-status")).to_contain_text("2 changes")
    page.fill("#dialog-reason", "the main refund provider is down; use the backup")
    page.screenshot(path=str(docs / "confirm.png"))
    page.keyboard.press("Escape")

    # A bulk retry: ten refunds, two of which have nothing to retry.
    repaired = stack.gate_dir() / "refunds-fixed"
    stack.manage(
        "shell",
        "-c",
        "from sagas.services.start import start_saga\n"
        "for n in range(10):\n"
        f"    stuck = {{'fail_at': 'transfer', 'stuck': 'debit', 'repair': {str(repaired)!r}}}\n"
        "    input = stuck if n % 5 else {}\n"
        "    start_saga('payout', input, correlation_id=f'refund-{n:04d}')\n",
    )
    wait_for_sagas(stack, "payout", "failed", 8)
    page.goto(f"{stack.url}/sagas/?type=payout")
    live(page)
    rows = page.locator("#saga-rows input[name=ids]")
    for n in range(10):
        rows.nth(n).check()
    page.select_option("#bulk-action", "retry")
    page.fill("#bulk-reason", "refund provider back up")
    page.click("#bulk-preview-button")
    expect(page.locator("#preview-applicable")).to_have_text("8")
    page.screenshot(path=str(docs / "bulk-preview.png"))
    repaired.touch()  # the refund provider is back: the retried refunds go through
    page.locator("#bulk-confirm").click()
    expect(page.locator("#bulk-status")).to_have_text("done", timeout=LONG)
    page.screenshot(path=str(docs / "bulk.png"), full_page=True)

    page.goto(f"{stack.url}/")
    live(page)
    expect(page.locator("#failed")).to_contain_text("ord-0009")
    expect(page.locator("#stuck")).to_contain_text("ord-0010", timeout=LONG)
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    page.goto(f"{stack.url}/sagas/")
    live(page)
    page.screenshot(path=str(tmp_path / "list.png"))

    page.goto(f"{stack.url}/outbox/")
    live(page)
    expect(page.locator("#messages tr").first).to_be_visible()
    page.locator("#messages button").first.click()
    page.screenshot(path=str(docs / "outbox.png"), full_page=True)
    for name in ("confirm", "bulk-preview", "bulk", "outbox"):
        assert (docs / f"{name}.png").stat().st_size > 10_000
    for name in ("overview", "list", "detail"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
