"""The Problems page in Debian's Chromium: sagas failing for one cause appear live as one
group, and the group's bulk retry, after the fix, repairs every saga in it."""

from __future__ import annotations

import re

import pytest

from .pages import LONG, live, wait_for_sagas

expect = pytest.importorskip("playwright.sync_api").expect

FAILING = 12


def test_a_group_appears_live_and_its_bulk_retry_repairs_its_sagas(page, stack):
    page.goto(f"{stack.url}/problems/?type=payout")
    live(page)
    # Earlier tests of this session may have left payout groups, all repaired by now.
    before = page.locator("#problems tr[data-problem] .open-count").all_text_contents()
    assert set(before) <= {"0"}, before
    repaired = stack.gate_dir() / "refunds-fixed"
    input = {"fail_at": "transfer", "stuck": "debit", "repair": str(repaired)}
    stack.manage(
        "shell",
        "-c",
        "from sagas.services.start import start_saga\n"
        f"for n in range({FAILING}):\n"
        f"    start_saga('payout', {input!r}, correlation_id=f'problem-{{n:03d}}')\n",
    )
    wait_for_sagas(stack, "payout", "failed", FAILING)
    group = page.locator("#problems tr[data-problem]")
    expect(group).to_have_count(1, timeout=LONG)  # twelve sagas, one cause: one row
    expect(group.locator(".open-count")).to_have_text(str(FAILING), timeout=LONG)
    expect(group).to_contain_text("payout.debit")
    expect(group).to_contain_text("compensation")
    expect(group).to_contain_text("the refund service is down")

    group.locator("a.open-sagas").click()
    expect(page).to_have_url(re.compile(r"/sagas/\?problem=\d+&status=failed$"))
    expect(page.locator("#problem-filter")).to_contain_text("payout.debit")
    expect(page.locator("#bulk-matching")).to_have_text(str(FAILING))
    page.check("#bulk-scope-filter")
    page.select_option("#bulk-action", "retry")
    page.fill("#bulk-reason", "the refund service is back")
    page.click("#bulk-preview-button")
    expect(page.locator("#preview-applicable")).to_have_text(str(FAILING))
    expect(page.locator("#bulk-dialog-what")).to_contain_text("in problem #")
    repaired.touch()
    page.locator("#bulk-confirm").click()
    expect(page).to_have_url(re.compile(r"/bulk/\d+/$"))
    expect(page.locator("#bulk-status")).to_have_text("done", timeout=LONG)
    wait_for_sagas(stack, "payout", "compensated", FAILING)

    page.goto(f"{stack.url}/problems/?type=payout")
    live(page)
    expect(page.locator("#problems tr[data-problem] .open-count")).to_have_text("0")
    expect(page.locator("#problems tr[data-problem]")).to_contain_text("none failed now")
