"""One saga the worker cannot advance never stops the others, nor the worker: its batch is
committed again saga by saga, the bad one is stopped for an operator (or put off) with the
reason in the log, and the process carries on."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from sagas.models import SagaInstance
from sagas.statuses import SagaStatus
from tests.factories import start, worker
from tests.processes import spawn_worker, stop_all, wait_for


def run(w, until, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        if w.tick() == 0:
            time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_saga_whose_command_cannot_be_built_is_stopped_and_the_rest_go_on():
    # `traced` sends payment {"amount": input.amount}: without it, its command cannot be built
    poison = start("traced", {})
    fine = [start("ledger", {}) for _ in range(3)]
    w = worker()
    run(
        w,
        lambda: all(
            s.status == "completed" for s in SagaInstance.objects.filter(saga_type="ledger")
        ),
    )
    poison.refresh_from_db()
    assert poison.status == SagaStatus.FAILED
    assert poison.reason.startswith("the worker could not record the saga's next step: KeyError")
    assert poison.lease_owner is None
    assert poison.events.filter(type="saga_failed").exists()
    assert len(fine) == SagaInstance.objects.filter(status=SagaStatus.COMPLETED).count()


@pytest.mark.django_db(transaction=True)
def test_a_row_the_worker_cannot_read_is_put_off_and_the_rest_go_on():
    corrupt = start("ledger", {})
    SagaInstance.objects.filter(id=corrupt.id).update(definition_steps=42)
    fine = start("ledger", {})
    w = worker()
    run(w, lambda: SagaInstance.objects.get(id=fine.id).status == SagaStatus.COMPLETED)
    corrupt.refresh_from_db()
    assert corrupt.status == SagaStatus.RUNNING and corrupt.lease_owner is None
    assert corrupt.next_run_at > timezone.now() + timedelta(seconds=50)  # put off, not hot


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_survives_poison_sagas_and_logs_their_ids(tmp_path):
    poison = start("traced", {})
    corrupt = start("ledger", {})
    SagaInstance.objects.filter(id=corrupt.id).update(definition_steps=42)
    process = spawn_worker(tmp_path, "survivor")
    try:
        wait_for(
            lambda: SagaInstance.objects.get(id=poison.id).status == SagaStatus.FAILED,
            30,
            "the poison saga to be stopped",
        )
        later = [start("ledger", {}) for _ in range(3)]
        wait_for(
            lambda: all(
                s.status == SagaStatus.COMPLETED
                for s in SagaInstance.objects.filter(id__in=[s.id for s in later])
            ),
            30,
            "the sagas after the poison to complete",
        )
        assert process.poll() is None, "the worker process exited"
    finally:
        stop_all([process])
    log = (tmp_path / "survivor.log").read_text()
    assert str(poison.id) in log and str(corrupt.id) in log
