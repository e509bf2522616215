"""The list's "all N match this filter" stays true while sagas change: the snapshot carries
it, and the feed recounts after changes (sagas that come into the filter and sagas that
leave it) and sends a "count" frame when it moved; only to sockets with the bulk bar."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import settle, start, worker
from tests.pages import embedded
from tests.sockets import communicator, run, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20  # seconds; a bound on a busy machine


@pytest.fixture(autouse=True)
def quick_counts(settings):
    settings.SAGASCOPE_LIST_COUNT_SECONDS = 0.05


async def next_count(ws) -> dict:
    while True:
        frame = await ws.receive_json_from(timeout=WAIT)
        if frame["type"] == "count":
            return frame


def test_the_count_follows_sagas_into_and_out_of_the_filter(operator):
    start("ledger", {})  # running: matches

    async def scenario():
        ws = communicator("/ws/sagas/?status=running", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert snapshot["matching"] == {"count": 1, "more": False}
        await database_sync_to_async(start)("ledger", {})
        await database_sync_to_async(start)("ledger", {})
        counts = [await next_count(ws)]
        while counts[-1]["count"] != 3:
            counts.append(await next_count(ws))
        assert counts[-1] == {"type": "count", "count": 3, "more": False}
        await database_sync_to_async(settle)(worker())  # all three complete: none is running
        while counts[-1]["count"] != 0:
            counts.append(await next_count(ws))
        assert all(a != b for a, b in zip(counts, counts[1:], strict=False)), counts  # moves only
        await ws.disconnect()

    run(scenario)


def test_past_count_shown_it_says_more(operator, monkeypatch):
    monkeypatch.setattr("dashboard.selection.COUNT_SHOWN", 2)  # stands in for 1,000
    for _ in range(3):
        start("ledger", {})

    async def scenario():
        ws = communicator("/ws/sagas/", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert snapshot["matching"] == {"count": 2, "more": True}
        await ws.disconnect()

    run(scenario)


def test_no_count_without_the_bulk_bar(db):
    reader = get_user_model().objects.create_user("reader", password="pw", is_staff=True)
    reader._test_session = session_cookie(reader)

    async def scenario():
        ws = communicator("/ws/sagas/", reader)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert "matching" not in snapshot
        await database_sync_to_async(start)("ledger", {})
        frame = await ws.receive_json_from(timeout=WAIT)
        assert frame["type"] == "sagas"
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    run(scenario)


def test_the_page_tells_its_script_the_page_size(staff_client, settings):
    settings.SAGASCOPE_LIST_PAGE_SIZE = 7
    config = embedded(staff_client.get(reverse("saga-list")), "list-config")
    assert config["page_size"] == 7 and config["first_page"] is True
