"""The demo's order stream: a restarted demo goes on numbering its orders from the highest
in the database, so one correlation id never names two sagas."""

from __future__ import annotations

import pytest

from sagas.demo.traffic import Traffic, next_order_number
from sagas.models import SagaInstance
from tests.factories import start

pytestmark = pytest.mark.django_db


def correlation_ids() -> list[str]:
    return list(
        SagaInstance.objects.order_by("created_at", "correlation_id").values_list(
            "correlation_id", flat=True
        )
    )


def test_a_second_run_goes_on_from_the_first_runs_orders():
    first = Traffic(seed=1)
    first.start_one()
    first.start_one()
    second = Traffic(seed=1)  # the demo restarted on the same database
    second.start_one()
    assert correlation_ids() == ["ord-000001", "ord-000002", "ord-000003"]


def test_numbering_follows_the_highest_number_not_the_last_in_text_order():
    assert next_order_number() == 1
    for correlation_id in ["ord-000041", "ord-999999", "ord-1000000", "ord-abc", "xord-5000000"]:
        start("ledger", {}, correlation_id=correlation_id)
    assert next_order_number() == 1_000_001
