"""In Chromium: the overview tells a refusal from a failure and draws its per-minute chart on
a labelled time axis; the outbox's dead-letter count opens the dead letters, each with its
reason and a link to its saga."""

from __future__ import annotations

import re

import pytest

from .pages import LONG, live, wait_for_sagas

expect = pytest.importorskip("playwright.sync_api").expect


def test_the_overview_counts_a_refusal_apart_from_failures(page, stack):
    stack.start_saga({"fail_at": "reserve", "message": "out of stock"}, "refused-1")
    wait_for_sagas(stack, "shipment", "compensated", 1)
    page.goto(f"{stack.url}/")
    live(page)
    refused = page.locator('#outcomes [data-outcome="refused"] dd')
    expect(refused).not_to_have_text(re.compile(r"^0"), timeout=LONG)
    expect(page.locator('#outcomes [data-outcome="errors"] dt')).to_have_text(
        "failed (errors, timeouts)"
    )
    expect(page.locator("#outcomes-help")).to_contain_text("is the business saying no")
    shipment = page.locator("#types tr", has=page.locator("th", has_text="shipment"))
    expect(shipment.locator("td.refused")).not_to_have_text(re.compile(r"^0"))
    # The chart's time axis: a label every ten minutes, and the last minute's (hours and
    # minutes, in the reader's zone like every time on the page).
    axis = page.locator("#minutes-axis time")
    expect(axis.first).to_have_text(re.compile(r"^\d\d:\d0$"))
    assert 5 <= axis.count() <= 7
    expect(page.locator("#minutes-axis time.now")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    left = [float(t.get_attribute("style").split("left:")[1].split("%")[0]) for t in axis.all()]
    assert left == sorted(left) and left[0] > 0 and left[-1] < 100


def test_the_dead_letter_count_opens_the_dead_letters(page, stack):
    saga = stack.start_saga({}, "dead-letter-1")
    stack.manage(
        "shell",
        "-c",
        "from sagas.messaging import outbox\n"
        "from sagas.models import OutboxMessage\n"
        f"envelope = {{'headers': {{'message_id': '{saga['id'][:-4]}beef', "
        f"'saga_id': '{saga['id']}', 'step': 'charge', 'phase': 'forward', 'attempt': 1}}, "
        "'body': {}}\n"
        "assert outbox.enqueue_reply(envelope, 'payment')\n"
        "message = OutboxMessage.objects.get(message_id=envelope['headers']['message_id'])\n"
        "outbox.bury([message], 'could not be applied: the reply names no waiting attempt')\n",
    )
    page.goto(f"{stack.url}/outbox/")
    live(page)
    count = page.locator("a#dead")
    expect(count).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=LONG)
    expect(page.locator("main, body").first).to_contain_text("A dead letter is a message set aside")
    count.click()
    expect(page).to_have_url(f"{stack.url}/outbox/dead/")
    row = page.locator("#dead-letters tr", has_text="names no waiting attempt")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("payment → orchestrator")
    expect(row).to_contain_text("charge · forward · #1")
    row.locator(f'a[href="/sagas/{saga["id"]}/"]').click()
    expect(page).to_have_url(f"{stack.url}/sagas/{saga['id']}/")
