"""The hot path's hand-written statements (sagas/engine/sql.py): they write and read what
the ORM would, and on PostgreSQL they are prepared once per connection, not parsed and
planned on every commit."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from sagas.engine.sql import columns, hot_cursor, insert_many, load_rows
from sagas.models import OutboxMessage, SagaEvent, SagaInstance
from sagas.statuses import SagaStatus
from tests.factories import settle, start, worker

pytestmark = pytest.mark.django_db(transaction=True)


def prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
def test_the_worker_prepares_its_statements_once_per_connection():
    w = worker()
    start("ledger")
    settle(w)
    first = prepared()
    assert any("FOR UPDATE" in s and "lease_owner" in s for s in first)  # the fence
    assert any(s.startswith("INSERT INTO") and "sagas_sagaevent" in s for s in first)
    for _ in range(3):  # one at a time: the same statements (a batch has more rows each)
        start("ledger")
        settle(w)
    assert SagaInstance.objects.filter(status=SagaStatus.COMPLETED).count() == 4
    assert sorted(prepared()) == sorted(first)  # reused, none added


@pytest.mark.postgres
@override_settings(SAGASCOPE_PREPARED_STATEMENTS=False)
def test_prepared_statements_can_be_turned_off_for_a_pooler():
    start("ledger")
    settle(worker())
    assert SagaInstance.objects.get().status == SagaStatus.COMPLETED
    assert prepared() == []


def event(saga: SagaInstance, **kw) -> SagaEvent:
    fields = dict(type="note", status=saga.status, version=saga.version, actor="test")
    return SagaEvent(
        saga=saga, payload={"n": 1, "text": "é"}, created_at=timezone.now(), **fields | kw
    )


def test_insert_many_sets_the_new_ids_and_stores_what_the_orm_would():
    saga = start("ledger")
    rows = [event(saga, step=f"s{i}") for i in range(3)]
    with transaction.atomic():
        assert insert_many(SagaEvent, rows) == 3
    assert all(row.pk is not None for row in rows)
    stored = {e.pk: e for e in SagaEvent.objects.filter(pk__in=[row.pk for row in rows])}
    assert [stored[row.pk].step for row in rows] == ["s0", "s1", "s2"]
    assert stored[rows[0].pk].payload == {"n": 1, "text": "é"}


def test_insert_unless_exists_skips_a_message_id_already_there():
    now = timezone.now()

    def reply(message_id: uuid.UUID) -> OutboxMessage:
        return OutboxMessage(
            message_id=message_id,
            kind="reply",
            destination="orchestrator",
            headers={"k": "v"},
            body={},
            available_at=now,
            created_at=now,
        )

    same = uuid.uuid4()
    assert insert_many(OutboxMessage, [reply(same)], unless_exists="message_id") == 1
    assert insert_many(OutboxMessage, [reply(same)], unless_exists="message_id") == 0
    assert OutboxMessage.objects.filter(message_id=same).count() == 1


def test_load_rows_gives_the_instances_the_orm_gives():
    saga = start("ledger", {"sku": "A-1", "nested": {"qty": 2}})
    with hot_cursor(connection) as cursor:
        cursor.execute(f"SELECT {columns(SagaInstance)} FROM sagas_sagainstance")
        (loaded,) = load_rows(SagaInstance, cursor)
    fresh = SagaInstance.objects.get(pk=saga.pk)
    for field in SagaInstance._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(fresh, field.attname), field.name
    assert not loaded._state.adding
