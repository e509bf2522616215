"""tests/states.py writes what a worker writes: the same saga, run by a real worker and
played by `ran`, leaves the same row, attempts and events (ids, times and the jitter aside)."""

from __future__ import annotations

import json

import pytest

from sagas.models import SagaInstance
from tests.factories import settle, start, worker
from tests.states import outcome_of, ran

# A real worker runs here, in its own transactions, with the database clock.
pytestmark = pytest.mark.django_db(transaction=True)

ROW = ["status", "phase", "current_step", "attempt", "failures", "in_flight", "possibly_done"]
ROW += ["generations", "compensation_plan", "reason", "version", "next_run_at"]


def without_retry_times(payload: dict) -> dict:
    # The worker draws the backoff's jitter at random; `ran` takes the middle of it.
    return {k: v for k, v in payload.items() if k not in ("retry_at", "retry_in_s")}


def shape(saga: SagaInstance) -> dict:
    saga.refresh_from_db()
    key = str(saga.id)
    row = {name: getattr(saga, name) for name in ROW}
    row["finished"] = saga.finished_at is not None
    attempts = [
        (a.step_name, a.step_index, a.phase, a.attempt, a.generation, a.status)
        + (a.idempotency_key.replace(key, "ID"), a.error_type, a.error_message)
        + (bool(a.error_traceback), a.finished_at is not None, a.deadline is not None)
        for a in saga.attempts.order_by("id")
    ]
    events = [
        (e.type, e.step, e.phase, e.attempt, e.status, e.version)
        + (sorted(e.payload), json.dumps(without_retry_times(e.payload)).replace(key, "ID"))
        for e in saga.events.order_by("id")
    ]
    return {"row": row, "attempts": attempts, "events": events}


@pytest.mark.parametrize(
    "input, failing",
    [
        ({}, ()),  # completes
        ({"fail_at": "c"}, ("c",)),  # refused, compensated
        ({"sleep": "not a number"}, ("a",)),  # crashes until its retries run out
    ],
)
def test_a_played_saga_is_what_a_worker_leaves(input, failing):
    real = start("ledger", input)
    settle(worker())
    played = start("ledger", input)
    ran(played, failing={step: outcome_of(played, step) for step in failing})
    assert shape(played) == shape(real)
