"""The live saga list keeps its first page one page long: new sagas past a full page are
counted in a "N newer, show them" banner (which shows them), not prepended for ever; and
the bulk bar's "all N match" count follows the sagas as they arrive. In Chromium, against
daphne and a real worker."""

from __future__ import annotations

import pytest

from .pages import LONG, live, mark_loaded, never_reloaded, start_payouts, wait_for_sagas

expect = pytest.importorskip("playwright.sync_api").expect

PAGE = 50  # SAGASCOPE_LIST_PAGE_SIZE's default, which the browser stack keeps


def test_a_full_first_page_counts_newer_sagas_instead_of_growing(page, stack):
    start_payouts(stack, "fill", PAGE + 5)
    wait_for_sagas(stack, "payout", "completed", PAGE + 5)
    page.goto(f"{stack.url}/sagas/?type=payout")
    live(page)
    mark_loaded(page)
    rows = page.locator("#saga-rows tr[data-id]")
    expect(rows).to_have_count(PAGE)
    banner = page.locator("#newer")
    expect(banner).to_be_hidden()
    matching = page.locator("#bulk-matching")
    before = int(matching.inner_text())

    start_payouts(stack, "late", 3)
    expect(banner).to_be_visible(timeout=LONG)
    expect(page.locator("#show-newer")).to_have_text("3 newer, show them", timeout=LONG)
    expect(matching).to_have_text(str(before + 3), timeout=LONG)  # the count is live too
    wait_for_sagas(stack, "payout", "completed", PAGE + 8)  # their changes come and go...
    page.wait_for_timeout(1000)
    expect(rows).to_have_count(PAGE)  # ...and the page stays one page
    expect(page.locator("#show-newer")).to_have_text("3 newer, show them")
    assert not page.locator('#saga-rows td:text-matches("^late-")').count()
    never_reloaded(page)

    page.locator("#show-newer").click()
    live(page)
    expect(banner).to_be_hidden()
    expect(rows).to_have_count(PAGE)
    newest = [rows.nth(i).locator("td").nth(4).inner_text() for i in range(3)]
    assert sorted(newest) == ["late-000", "late-001", "late-002"], newest
