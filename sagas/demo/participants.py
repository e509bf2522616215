"""The demo shop's services: inventory, payment, shipping, email.

Each runs as its own process (`manage.py run_participant inventory`), or all inside the
demo. The inbox gives each idempotency key one effect; the rows keep the key too, so the
tests can count effects in the services' own tables. Compensations tolerate "never
happened". Each is a FaultyParticipant: faults come from SAGASCOPE_FAULTS_<SERVICE> (see
faults.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sagas.exceptions import BusinessError
from sagas.participant import Command

from .faults import FaultyParticipant
from .models import Confirmation, Payment, Reservation, Shipment, StockItem

PAYMENT_LIMIT = Decimal("1000")
SERVED_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "CA",
        "CH",
        "DE",
        "DK",
        "ES",
        "FI",
        "FR",
        "GB",
        "IE",
        "IT",
        "JP",
        "LU",
        "NL",
        "NO",
        "PL",
        "PT",
        "SE",
        "US",
    ]
)

inventory = FaultyParticipant("inventory", "stock, with reserved-but-pending units")
payment = FaultyParticipant("payment", "charges and refunds; declines above the limit")
shipping = FaultyParticipant("shipping", "schedules shipments to served countries")
email = FaultyParticipant("email", "sends confirmations (irreversible, so it comes last)")


class OutOfStock(BusinessError):
    """Not enough stock for this order."""


class PaymentDeclined(BusinessError):
    """The payment was declined."""


class ShippingRefused(BusinessError):
    """This destination is not served."""


@inventory.command("reserve")
def reserve(cmd: Command) -> dict[str, Any]:
    sku, qty = str(cmd.body["sku"]), int(cmd.body["qty"])
    StockItem.objects.get_or_create(sku=sku)
    item = StockItem.objects.select_for_update().get(sku=sku)
    if qty > item.available:
        raise OutOfStock(f"{sku}: {qty} requested, {item.available} available")
    reservation = Reservation.objects.create(
        idempotency_key=cmd.idempotency_key, saga_id=cmd.saga_id, sku=sku, qty=qty
    )
    item.reserved += qty
    item.save(update_fields=["reserved"])
    return {"reservation_id": reservation.id, "sku": sku, "qty": qty}


@inventory.command("release")
def release(cmd: Command) -> dict[str, Any]:
    released = 0
    for reservation in Reservation.objects.select_for_update().filter(
        saga_id=cmd.saga_id, status=Reservation.Status.HELD
    ):
        item = StockItem.objects.select_for_update().get(sku=reservation.sku)
        item.reserved -= reservation.qty
        item.save(update_fields=["reserved"])
        reservation.status = Reservation.Status.RELEASED
        reservation.save(update_fields=["status"])
        released += reservation.qty
    return {"released": released}


def ship_reserved(saga_id: str) -> int:
    """The reservation leaves the warehouse: reserved units become shipped units.

    The demo's services share one database, so shipping books this directly; separate
    services would send inventory an event instead."""
    shipped = 0
    for reservation in Reservation.objects.select_for_update().filter(
        saga_id=saga_id, status=Reservation.Status.HELD
    ):
        item = StockItem.objects.select_for_update().get(sku=reservation.sku)
        item.reserved -= reservation.qty
        item.on_hand -= reservation.qty
        item.save(update_fields=["reserved", "on_hand"])
        reservation.status = Reservation.Status.SHIPPED
        reservation.save(update_fields=["status"])
        shipped += reservation.qty
    return shipped


@payment.command("charge")
def charge(cmd: Command) -> dict[str, Any]:
    amount = Decimal(str(cmd.body["amount"]))
    if amount > PAYMENT_LIMIT:
        raise PaymentDeclined(f"card declined: {amount} is over the {PAYMENT_LIMIT} limit")
    charged = Payment.objects.create(
        idempotency_key=cmd.idempotency_key, saga_id=cmd.saga_id, amount=amount
    )
    return {"payment_id": charged.id, "amount": str(charged.amount)}


@payment.command("refund")
def refund(cmd: Command) -> dict[str, Any]:
    refunded = Payment.objects.filter(saga_id=cmd.saga_id, status=Payment.Status.CHARGED).update(
        status=Payment.Status.REFUNDED
    )
    return {"refunded": refunded}


@shipping.command("schedule")
def schedule(cmd: Command) -> dict[str, Any]:
    country = str(cmd.body["country"])
    if country not in SERVED_COUNTRIES:
        raise ShippingRefused(f"we do not ship to {country}")
    shipment = Shipment.objects.create(
        idempotency_key=cmd.idempotency_key, saga_id=cmd.saga_id, country=country
    )
    shipped = ship_reserved(cmd.saga_id)
    return {"shipment_id": shipment.id, "units": shipped}


@email.command("send")
def send(cmd: Command) -> dict[str, Any]:
    sent = Confirmation.objects.create(idempotency_key=cmd.idempotency_key, saga_id=cmd.saga_id)
    return {"confirmation_id": sent.id}
