"""Saved views and exports in Chromium, against daphne and a real worker: save the list as
a view (name, shared, columns) from the list page, open it again from the navigation, see
its columns on the rows that arrive live; download a saga's history and the list's CSV."""

from __future__ import annotations

import csv
import json

import pytest

from .pages import LONG, live, start_payouts, wait_for_sagas

expect = pytest.importorskip("playwright.sync_api").expect


def test_save_a_view_from_the_list_and_open_it_from_the_navigation(page, stack):
    start_payouts(stack, "view", 2)
    wait_for_sagas(stack, "payout", "completed", 2)
    page.goto(f"{stack.url}/sagas/?type=payout&q=view-")
    page.locator("#save-view summary").click()
    page.fill("#save-view-name", "Payouts <b>to check</b>")
    page.check("#save-view-shared")
    form = page.locator("#save-view-form")
    for column in ("correlation_id", "step", "started", "updated"):
        form.locator(f'input[name=columns][value="{column}"]').uncheck()
    form.locator('input[name=columns][value="finished"]').check()
    form.locator("button[type=submit]").click()

    heading = page.locator("#view-name")
    expect(heading).to_have_text("· Payouts <b>to check</b>")  # text, not markup
    headings = page.locator("#saga-table thead th[data-col]")
    expect(headings).to_have_count(5)
    assert headings.evaluate_all("hs => hs.map(h => h.dataset.col)") == [
        "id",
        "type",
        "status",
        "finished",
        "reason",
    ]

    page.goto(f"{stack.url}/")
    page.locator("#views-menu summary").click()
    page.locator("#views-menu a", has_text="Payouts <b>to check</b>").click()
    page.wait_for_url("**/sagas/?type=payout&q=view-&columns=*")
    live(page)
    expect(heading).to_be_visible()
    rows = page.locator("#saga-rows tr[data-id]")
    expect(rows).to_have_count(2)
    # A saga that starts now arrives live, rendered in the view's columns.
    start_payouts(stack, "view-late", 1)
    expect(rows).to_have_count(3, timeout=LONG)
    cells = rows.first.locator("td[data-col]")
    assert cells.evaluate_all("tds => tds.map(td => td.dataset.col)") == [
        "id",
        "type",
        "status",
        "finished",
        "reason",
    ]

    page.goto(f"{stack.url}/views/")
    expect(page.locator("#saved-views")).to_contain_text("Payouts <b>to check</b>")
    expect(page.locator("#saved-views")).to_contain_text("shared")


def test_download_a_sagas_history_and_the_list_as_csv(page, stack, tmp_path):
    saga = stack.start_saga({"items": 1}, correlation_id="download-1")
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    with page.expect_download() as got:
        page.locator("#history-download").click()
    path = tmp_path / got.value.suggested_filename
    got.value.save_as(path)
    assert path.name == f"saga-{saga['id']}-history.json"
    doc = json.loads(path.read_text())
    assert doc["saga"]["id"] == saga["id"] and doc["events"][0]["type"] == "saga_started"

    page.goto(f"{stack.url}/sagas/?q=download-")
    with page.expect_download() as got:
        page.locator("#export-csv").click()
    path = tmp_path / "list.csv"
    got.value.save_as(path)
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["correlation_id"] for r in rows] == ["download-1"]
    assert rows[0]["id"] == saga["id"]
