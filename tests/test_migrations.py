"""Migrations that rename keep every row: 0008 turns StepExecution into StepAttempt and a
saga's `context` into `results`, on the data already there."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("sagas", "0007_hardening")]
AFTER = [("sagas", "0008_names")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_renames_keep_the_attempts_and_the_results():
    old = migrate(BEFORE)
    try:
        now = timezone.now()
        saga = old.get_model("sagas", "SagaInstance").objects.create(
            id=uuid.uuid4(),
            saga_type="order",
            status="running",
            context={"create_order": {"order_id": 7}},
            created_at=now,
            updated_at=now,
        )
        old.get_model("sagas", "StepExecution").objects.create(
            saga_id=saga.id,
            step_name="create_order",
            step_index=0,
            phase="forward",
            attempt=1,
            idempotency_key="k",
            status="succeeded",
            started_at=now,
        )
        new = migrate(AFTER)
        renamed = new.get_model("sagas", "SagaInstance").objects.get(id=saga.id)
        assert renamed.results == {"create_order": {"order_id": 7}}
        (attempt,) = new.get_model("sagas", "StepAttempt").objects.filter(saga_id=saga.id)
        assert (attempt.step_name, attempt.idempotency_key) == ("create_order", "k")
        assert list(renamed.attempts.all()) == [attempt]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
