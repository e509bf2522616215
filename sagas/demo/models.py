"""The demo shop's own tables: what each service did, one row per effect and idempotency key.

These are also the ledger the tests count: a charge without a refund must belong to a
completed order, and no idempotency key may appear twice.
"""

from __future__ import annotations

from django.db import models


class Order(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        CANCELLED = "cancelled"

    saga_id = models.UUIDField(unique=True)
    sku = models.CharField(max_length=64)
    qty = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    country = models.CharField(max_length=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    created_at = models.DateTimeField(auto_now_add=True)


class StockItem(models.Model):
    """Stock per SKU, with a semantic lock: `reserved` units are pending, not yet shipped."""

    INITIAL_UNITS = 100

    sku = models.CharField(max_length=64, unique=True)
    on_hand = models.PositiveIntegerField(default=INITIAL_UNITS)
    reserved = models.PositiveIntegerField(default=0)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    class Status(models.TextChoices):
        HELD = "held"
        RELEASED = "released"
        SHIPPED = "shipped"

    idempotency_key = models.CharField(max_length=200, unique=True)
    saga_id = models.UUIDField(db_index=True)
    sku = models.CharField(max_length=64)
    qty = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.HELD)


class Payment(models.Model):
    class Status(models.TextChoices):
        CHARGED = "charged"
        REFUNDED = "refunded"

    idempotency_key = models.CharField(max_length=200, unique=True)
    saga_id = models.UUIDField(db_index=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CHARGED)


class Shipment(models.Model):
    idempotency_key = models.CharField(max_length=200, unique=True)
    saga_id = models.UUIDField(db_index=True)
    country = models.CharField(max_length=2)


class Confirmation(models.Model):
    idempotency_key = models.CharField(max_length=200, unique=True)
    saga_id = models.UUIDField(db_index=True)
