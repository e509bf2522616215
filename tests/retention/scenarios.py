"""The retention tests' sagas, and finishing them with a real worker."""

from __future__ import annotations

from datetime import timedelta

from sagas.definition import Retry, Saga, Step
from sagas.exceptions import BusinessError
from sagas.models import SagaInstance
from sagas.statuses import SagaStatus
from tests.factories import settle, start, worker


def noop(ctx):
    return {"ok": True}


def refuse(ctx):
    raise BusinessError("declined")


refund_works = {"value": False}


def broken(ctx):
    if not refund_works["value"]:
        raise ConnectionError("refund service down")
    return {"refunded": True}


class Failing(Saga):
    """Charges, is refused at the pivot, and its refund fails: failed, for an operator."""

    name = "failing"
    register = False
    steps = [
        Step(
            "charge",
            action=noop,
            compensation=broken,
            compensation_retry=Retry(max_attempts=1, backoff=0.01),
        ),
        Step("ship", action=refuse, pivot=True),
    ]


class ShortLived(Saga):
    """Declares its own retention: completed ones kept one day."""

    name = "short"
    register = False
    retention = {"completed": 1}
    steps = [Step("only", action=noop)]


def finished(*specs: tuple[str, dict]) -> list[SagaInstance]:
    """Start these sagas and run them to their end with a real worker."""
    sagas = [start(saga_type, data) for saga_type, data in specs]
    settle(worker())
    for saga in sagas:
        saga.refresh_from_db()
    return sagas


def days(n: float) -> timedelta:
    return timedelta(days=n)


def latest_finish() -> object:
    ended = SagaInstance.objects.exclude(status=SagaStatus.FAILED)
    return max(ended.values_list("finished_at", flat=True))
