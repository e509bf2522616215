"""A saga an operator has reasons to touch, and a factory for it in every state.

`repairable`: charge (compensated by a refund), ship (the pivot), notify (retriable). The
refund and the notification fail until the test "fixes" their service (`works`), so a
saga runs out of retries into `failed` going backward (input {"refuse_ship": true}) or
forward after the pivot (input {}).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sagas.definition import Retry, Saga, Step
from sagas.exceptions import BusinessError
from sagas.models import SagaInstance
from sagas.registry import registry
from sagas.statuses import SagaStatus
from tests.factories import settle, start, worker

works = {"refund": False, "notify": False}
QUICK = Retry(max_attempts=2, backoff=0.01, max_backoff=0.02)


def charge(ctx: Any) -> dict[str, Any]:
    return {"charged": True}


def refund(ctx: Any) -> dict[str, Any]:
    if not works["refund"]:
        raise ConnectionError("payment service down")
    return {"refunded": True}


def ship(ctx: Any) -> dict[str, Any]:
    if ctx.input.get("refuse_ship"):
        raise BusinessError("carrier refused")
    return {"shipped": True}


def notify(ctx: Any) -> dict[str, Any]:
    if not works["notify"]:
        raise ConnectionError("mail server down")
    return {"sent": True}


class Repairable(Saga):
    name = "repairable"
    register = False
    steps = [
        Step("charge", action=charge, compensation=refund, compensation_retry=QUICK),
        Step("ship", action=ship, pivot=True),
        Step("notify", action=notify, retriable=True, retry=QUICK),
    ]


@contextmanager
def defined() -> Iterator[None]:
    works.update(refund=False, notify=False)
    with registry.override(Repairable):
        yield


STATES = ["running", "failed_compensating", "failed_forward", "completed", "compensated"]


def make(state: str, **kw: Any) -> SagaInstance:
    """A repairable saga in `state`, reached by really running it (no status written by
    hand), so the state machine sees exactly what it would in production."""
    assert state in STATES, state
    backward = state in ("failed_compensating", "compensated")
    saga = start("repairable", {"refuse_ship": True} if backward else {}, **kw)
    if state != "running":
        works.update(refund=state == "compensated", notify=state == "completed")
        settle(worker())
        works.update(refund=False, notify=False)
    saga.refresh_from_db()
    expected = {
        "running": SagaStatus.RUNNING,
        "failed_compensating": SagaStatus.FAILED,
        "failed_forward": SagaStatus.FAILED,
        "completed": SagaStatus.COMPLETED,
        "compensated": SagaStatus.COMPENSATED,
    }[state]
    assert saga.status == expected, (state, saga.status, saga.reason)
    return saga
