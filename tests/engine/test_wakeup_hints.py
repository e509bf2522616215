"""What a worker asks the database between steps: only about the work it was told of by
NOTIFY, plus sagas due by the clock now and then, plus everything once a poll interval
(the safety net for a missed notification)."""

from __future__ import annotations

import time
import uuid
from contextlib import closing

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sagas.engine.wakeup import (
    BULK,
    COMMANDS,
    EVERYTHING,
    REPLY,
    Waiter,
    notify_commands,
    notify_due,
)
from sagas.messaging.outbox import enqueue_reply
from sagas.models import OutboxMessage
from sagas.runtime.worker import CLAIM_EVERY
from tests.factories import worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def tables_asked(w) -> list[str]:
    """The tables one tick of `w` read or wrote."""
    with CaptureQueriesContext(connection) as seen:
        w.tick()
    names = ("sagas_outboxmessage", "sagas_bulkitem", "sagas_sagainstance")
    return [name for q in seen.captured_queries for name in names if name in q["sql"]]


def test_a_waiter_hears_which_kinds_of_work_were_announced():
    waiter = Waiter()
    try:
        assert waiter.heard() == frozenset()
        notify_due(REPLY)
        notify_due(BULK)
        time.sleep(0.05)
        assert waiter.heard() == {REPLY, BULK}
        assert waiter.heard() == frozenset()  # each announcement is taken once
        with connection.cursor() as cursor:
            cursor.execute("NOTIFY sagascope_due")  # a sender that says nothing more
        time.sleep(0.05)
        assert waiter.heard() == EVERYTHING
    finally:
        waiter.close()


def test_a_worker_told_nothing_asks_nothing_until_the_clock_says_so():
    w = worker(poll_interval=30)
    with closing(w.listen()):
        first = tables_asked(w)  # the first tick looks for every kind of work
        assert {"sagas_outboxmessage", "sagas_bulkitem", "sagas_sagainstance"} <= set(first)
        assert tables_asked(w) == []  # straight after, with nothing announced: no query
        time.sleep(CLAIM_EVERY * 1.5)
        assert tables_asked(w) == ["sagas_sagainstance"]  # sagas fall due by the clock
        notify_due(REPLY)
        time.sleep(0.05)
        assert "sagas_outboxmessage" in tables_asked(w)
        assert "sagas_bulkitem" not in tables_asked(w)


def test_a_reply_whose_notification_was_missed_is_applied_within_a_poll_interval():
    w = worker(poll_interval=0.5)
    with closing(w.listen()):
        w.tick()  # the sweep of a fresh worker
        now = timezone.now()
        missed = OutboxMessage.objects.create(  # queued with no NOTIFY, as if it was lost
            message_id=uuid.uuid4(),
            kind=OutboxMessage.Kind.REPLY,
            destination="orchestrator",
            sender="payment",
            headers={},
            body={},
            available_at=now,
            created_at=now,
        )
        w.tick()
        assert OutboxMessage.objects.get(id=missed.id).status == "pending"
        time.sleep(0.55)
        w.tick()
        assert OutboxMessage.objects.get(id=missed.id).status != "pending"


def test_a_reply_announced_is_applied_at_the_next_tick():
    w = worker(poll_interval=30)
    with closing(w.listen()):
        w.tick()
        message_id = str(uuid.uuid4())
        headers = {"message_id": message_id, "saga_id": str(uuid.uuid4())}
        assert enqueue_reply({"headers": headers, "body": {}}, sender="payment")
        time.sleep(0.05)
        w.tick()
        assert OutboxMessage.objects.get(message_id=message_id).status != "pending"


def test_a_participant_sleeps_through_commands_for_other_participants():
    import psycopg

    def elsewhere(*destinations: str) -> None:  # a worker process's commit
        params = connection.get_connection_params()
        with psycopg.connect(autocommit=True, **params) as other:
            for destination in destinations:
                other.execute("SELECT pg_notify(%s, %s)", [COMMANDS, destination])

    waiter = Waiter(COMMANDS)
    try:
        elsewhere("payment")
        began = time.monotonic()
        waiter.wait_for("inventory", 0.3)
        assert time.monotonic() - began >= 0.3  # payment's command did not wake inventory
        elsewhere("inventory", "payment")
        began = time.monotonic()
        waiter.wait_for("inventory", 5.0)
        assert time.monotonic() - began < 1.0
        elsewhere("")  # a sender that names nobody wakes everyone
        began = time.monotonic()
        waiter.wait_for("inventory", 5.0)
        assert time.monotonic() - began < 1.0
    finally:
        waiter.close()


def test_a_commit_names_the_participants_its_commands_go_to():
    with CaptureQueriesContext(connection) as seen:
        notify_commands(["payment", "inventory", "payment"])
    sent = [q["sql"] for q in seen.captured_queries if "pg_notify" in q["sql"]]
    assert len(sent) == 2 and "inventory" in sent[0] and "payment" in sent[1]
