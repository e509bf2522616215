"""The order saga's local steps: the order itself lives in the orchestrator's database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sagas.definition import StepContext

from .models import Order


def create_order(ctx: StepContext) -> dict[str, Any]:
    data = ctx.input
    order, _ = Order.objects.get_or_create(
        saga_id=ctx.saga_id,
        defaults={
            "sku": data["sku"],
            "qty": data["qty"],
            "amount": Decimal(str(data["amount"])),
            "country": data["country"],
        },
    )
    return {"order_id": order.id}


def cancel_order(ctx: StepContext) -> dict[str, Any]:
    cancelled = Order.objects.filter(saga_id=ctx.saga_id).update(status=Order.Status.CANCELLED)
    return {"cancelled": cancelled}
