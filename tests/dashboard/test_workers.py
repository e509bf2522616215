"""The Workers page and its figures: processes from their heartbeat rows, red once silent
past their window; the due backlog; the outbox per destination; staff only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.test import Client

from sagas.engine import heartbeats
from sagas.engine.heartbeats import Pulse
from sagas.models import OutboxMessage, ProcessHeartbeat
from tests.factories import start

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_beating_process_is_alive_and_a_silent_one_is_not(staff_client):
    live = Pulse("worker", "host:1:live", window=30)
    live.beat(leases_held=3, transitions=40)
    Pulse("relay", "host:2:dead", window=3).beat()
    ProcessHeartbeat.objects.filter(process_id="host:2:dead").update(
        last_beat=Now() - timedelta(seconds=10)
    )
    data = staff_client.get("/workers/data/").json()
    rows = {p["process_id"]: p for p in data["processes"]}
    assert rows["host:1:live"]["alive"] is True
    assert (rows["host:1:live"]["leases_held"], rows["host:1:live"]["transitions"]) == (3, 40)
    assert rows["host:2:dead"]["alive"] is False
    assert rows["host:2:dead"]["silent_seconds"] >= 10
    assert data["relay"] == {"alive": 0, "silent": 1, "http_destinations": []}


def test_a_clean_stop_removes_the_row_and_long_gone_rows_are_pruned(settings):
    settings.SAGASCOPE_FORGET_PROCESSES_AFTER = 60
    stopped = Pulse("participant", "host:3:stopped", window=10, name="inventory")
    stopped.beat()
    stopped.gone()
    Pulse("worker", "host:4:old", window=30).beat()
    ProcessHeartbeat.objects.filter(process_id="host:4:old").update(
        last_beat=Now() - timedelta(seconds=120)
    )
    Pulse("worker", "host:5:recent", window=30).beat()
    assert heartbeats.prune() == 1
    assert list(ProcessHeartbeat.objects.values_list("process_id", flat=True)) == ["host:5:recent"]


def test_the_page_shows_the_backlog_and_the_outbox(staff_client):
    start("ledger")  # due, and no worker runs
    OutboxMessage.objects.create(
        kind="command",
        destination="payment",
        available_at=Now(),
        created_at=Now(),
        status="dead",
    )
    page = staff_client.get("/workers/")
    assert page.status_code == 200
    assert b'id="workers-data"' in page.content and b'aria-current="page">Workers' in page.content
    data = staff_client.get("/workers/data/").json()
    assert data["backlog"]["due"] == 1
    assert data["outbox"] == [
        {"destination": "payment", "pending": 0, "oldest_age_seconds": None, "dead": 1}
    ]


def test_the_page_is_for_staff_only(client: Client, django_user_model):
    assert client.get("/workers/").status_code == 302
    assert client.get("/workers/data/").status_code == 302
    client.force_login(django_user_model.objects.create_user("visitor", password="pw-v"))
    assert client.get("/workers/data/").status_code == 302
    assert client.post("/workers/data/").status_code in (302, 405)
