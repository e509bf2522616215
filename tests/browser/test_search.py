"""The list's search box in Chromium: a bad query shows where and why beside the box (the
text kept to correct), then a good one lists exactly the sagas it matches, their input and
their errors included."""

from __future__ import annotations

import pytest

from .pages import LONG, wait_for_sagas

expect = pytest.importorskip("playwright.sync_api").expect


def start_payouts(stack) -> None:
    stack.manage(
        "shell",
        "-c",
        "from sagas.services.start import start_saga\n"
        "start_saga('payout', {'search_country': 'AQ', 'amount': 5000}, correlation_id='srch-1')\n"
        "start_saga('payout', {'search_country': 'AQ', 'amount': 50}, correlation_id='srch-2')\n"
        "start_saga('payout', {'search_country': 'FR', 'amount': 9000}, correlation_id='srch-3')\n"
        "start_saga('payout', {'search_country': 'AQ', 'amount': 7000, 'fail_at': 'transfer',"
        " 'message': 'card declined by the bank'}, correlation_id='srch-4')\n",
    )


def test_a_bad_query_shows_its_error_then_a_good_one_lists_what_it_matches(page, stack):
    start_payouts(stack)
    wait_for_sagas(stack, "payout", "compensated", 1)
    page.goto(f"{stack.url}/sagas/")
    box = page.get_by_label("Saga id, correlation id or query")

    box.fill("input.search_country = AQ AND input.amount >")
    box.press("Enter")
    error = page.locator("#search-error")
    expect(error).to_have_text(
        "Bad query at 45: expected a value after '>', not the end of the query", timeout=LONG
    )
    expect(box).to_have_value("input.search_country = AQ AND input.amount >")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#search-help")).to_have_attribute("open", "")
    expect(page.locator("#saga-table")).to_have_count(0)

    box.fill("input.search_country = AQ AND input.amount > 1000")
    box.press("Enter")
    rows = page.locator("#saga-rows tr[data-id]")
    expect(rows).to_have_count(2, timeout=LONG)
    expect(page.locator("#search-error")).to_have_count(0)
    shown = sorted(rows.nth(i).locator("td").nth(4).inner_text() for i in range(2))
    assert shown == ["srch-1", "srch-4"], shown

    box.fill('input.search_country = AQ AND error ~ "DECLINED"')
    box.press("Enter")
    expect(rows).to_have_count(1, timeout=LONG)
    expect(rows.first.locator("td").nth(4)).to_have_text("srch-4")
