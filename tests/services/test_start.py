"""Starting sagas: Idempotency-Keys are per client, on the first request and in a race."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from sagas.exceptions import IdempotencyConflict
from sagas.models import SagaInstance
from sagas.services.start import start_saga

# Two threads race on one Idempotency-Key: each needs its own committed view.
pytestmark = pytest.mark.django_db(transaction=True)


def test_one_key_from_two_clients_gives_two_sagas():
    mine, created = start_saga("ledger", {}, idempotency_key="k", actor="token:a")
    theirs, also_created = start_saga("ledger", {}, idempotency_key="k", actor="token:b")
    assert created and also_created and mine.id != theirs.id
    assert start_saga("ledger", {}, idempotency_key="k", actor="token:a") == (mine, False)
    with pytest.raises(IdempotencyConflict, match=str(theirs.id)):
        start_saga("ledger", {"x": 1}, idempotency_key="k", actor="token:b")


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
def test_a_race_on_one_clients_key_returns_that_clients_saga():
    """The loser of a race hits the unique index, then must find its own client's saga,
    even when another client's saga with the same key is newer."""
    inserted, release = threading.Event(), threading.Event()
    first: list[SagaInstance] = []
    second: list[tuple[SagaInstance, bool]] = []

    def hold_the_first() -> None:
        try:
            with transaction.atomic():
                first.append(start_saga("ledger", {}, idempotency_key="k", actor="token:a")[0])
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()

    def race() -> None:
        try:
            second.append(start_saga("ledger", {}, idempotency_key="k", actor="token:a"))
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_first)
    holder.start()
    assert inserted.wait(10)
    other, _ = start_saga("ledger", {}, idempotency_key="k", actor="token:b")  # newest
    racer = threading.Thread(target=race)
    racer.start()
    deadline = time.monotonic() + 10
    while not waiting_on_a_lock():  # the racer's INSERT waits on the unique index
        assert time.monotonic() < deadline and racer.is_alive()
        time.sleep(0.02)
    release.set()
    holder.join(10)
    racer.join(10)
    assert second and second[0] == (first[0], False)
    assert second[0][0].id != other.id
    assert SagaInstance.objects.filter(idempotency_key="k").count() == 2
