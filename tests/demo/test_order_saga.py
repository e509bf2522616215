"""The `order` saga's contract: each input reproduces one path, and the shop's ledger shows
exactly what each path did and undid."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from sagas.demo.models import Order, Payment, Reservation, Shipment, StockItem
from sagas.demo.sagas import MAX_QTY
from sagas.models import SagaInstance
from sagas.statuses import Phase, SagaStatus
from tests.factories import settle, start, worker

pytestmark = pytest.mark.django_db(transaction=True)


def run(sku: str, qty: int = 2, amount: float = 50, country: str = "FR") -> SagaInstance:
    saga = start("order", {"sku": sku, "qty": qty, "amount": amount, "country": country})
    settle(worker())
    saga.refresh_from_db()
    return saga


def compensations(saga: SagaInstance) -> list[str]:
    return list(
        saga.attempts.filter(phase=Phase.COMPENSATION)
        .order_by("started_at", "id")
        .values_list("step_name", flat=True)
    )


def test_a_good_order_completes_and_ships_the_stock():
    saga = run("HAPPY", qty=3)
    assert saga.status == SagaStatus.COMPLETED
    item = StockItem.objects.get(sku="HAPPY")
    assert (item.on_hand, item.reserved) == (97, 0)
    assert Payment.objects.get(saga_id=saga.id).status == Payment.Status.CHARGED
    assert Shipment.objects.filter(saga_id=saga.id).count() == 1


def test_more_than_the_stock_is_refused_and_the_order_cancelled():
    saga = run("SCARCE", qty=101)
    assert saga.status == SagaStatus.COMPENSATED
    assert "101 requested, 100 available" in saga.reason
    assert compensations(saga) == ["create_order"]
    assert Order.objects.get(saga_id=saga.id).status == Order.Status.CANCELLED


def test_a_declined_payment_releases_the_stock_and_cancels():
    saga = run("PRICEY", amount=1000.01)
    assert saga.status == SagaStatus.COMPENSATED
    assert compensations(saga) == ["reserve_inventory", "create_order"]
    assert not Payment.objects.filter(saga_id=saga.id).exists()
    assert Reservation.objects.get(saga_id=saga.id).status == Reservation.Status.RELEASED
    assert StockItem.objects.get(sku="PRICEY").reserved == 0


def test_an_unserved_country_refunds_releases_and_cancels_in_reverse():
    saga = run("COLD", country="AQ")
    assert saga.status == SagaStatus.COMPENSATED
    assert "we do not ship to AQ" in saga.reason
    assert compensations(saga) == ["charge_payment", "reserve_inventory", "create_order"]
    assert Payment.objects.get(saga_id=saga.id).status == Payment.Status.REFUNDED
    assert StockItem.objects.get(sku="COLD").available == 100
    assert not Shipment.objects.filter(saga_id=saga.id).exists()


def test_stock_is_shared_between_orders_of_one_sku():
    first = run("SHARED", qty=60)
    second = run("SHARED", qty=60)
    assert (first.status, second.status) == (SagaStatus.COMPLETED, SagaStatus.COMPENSATED)
    assert "60 requested, 40 available" in second.reason


@pytest.fixture
def api():
    out = StringIO()
    call_command("create_api_token", "shop", "--scope", "start", stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


def post_order(api, **changes):
    body = {
        "type": "order",
        "input": {"sku": "BOUND", "qty": 1, "amount": 10, "country": "FR", **changes},
    }
    return api.post("/api/sagas", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Past PostgreSQL's integer: the order's insert failed in a step, with a traceback.
        ("qty", 2_147_483_648),
        ("qty", MAX_QTY + 1),
        ("qty", 0),
        ("qty", 1.5),
        ("amount", 1e9 + 1),
        ("amount", -1),
    ],
)
def test_numbers_out_of_range_are_refused_at_start_naming_the_field(api, field, value):
    response = post_order(api, **{field: value})
    assert response.status_code == 422, response.content
    assert f"input.{field}" in response.json()["detail"]
    assert not SagaInstance.objects.exists()


def test_the_largest_quantity_is_taken_and_completes_as_out_of_stock(api):
    response = post_order(api, qty=MAX_QTY)
    assert response.status_code == 201, response.content
    settle(worker())
    saga = SagaInstance.objects.get(id=response.json()["id"])
    assert saga.status == SagaStatus.COMPENSATED  # a clean business refusal, not a crash
    assert f"{MAX_QTY} requested, 100 available" in saga.reason
    assert not saga.attempts.exclude(error_traceback="").exists()
