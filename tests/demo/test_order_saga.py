"""The `order` saga's contract: each input reproduces one path, and the shop's ledger shows
exactly what each path did and undid."""

from __future__ import annotations

import pytest

from sagas.demo.models import Order, Payment, Reservation, Shipment, StockItem
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
        saga.steps.filter(phase=Phase.COMPENSATION)
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
