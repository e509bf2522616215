"""The `order` saga: part of the product's contract; its outcome follows from its input.

- `qty` above the SKU's available stock (each SKU starts with 100) -> OutOfStock at
  reserve_inventory: the order is cancelled. Input takes 1 to MAX_QTY (10,000).
- `amount` over 1000 -> PaymentDeclined: the stock is released, the order cancelled.
- `country` not served (AQ never is) -> ShippingRefused at the pivot: refund, release,
  cancel, in that order.

Every step after create_order is a command to a participant (participants.py).
"""

from __future__ import annotations

from typing import Any

from sagas.definition import Retry, Saga, Step, StepContext
from sagas.exceptions import InvalidSagaInput

from . import steps

REMOTE_RETRY = Retry(max_attempts=5, backoff=0.2, max_backoff=10)
# Far above any stock (100 a SKU) and far below the shop's integer columns (2**31 - 1), so
# a huge quantity is refused at the door instead of failing in a step.
MAX_QTY = 10_000


def _pick(*keys: str) -> Any:
    def payload(ctx: StepContext) -> dict[str, Any]:
        return {key: ctx.input[key] for key in keys}

    return payload


class OrderSaga(Saga):
    name = "order"
    description = "Place an order: reserve stock, charge, ship, confirm."
    steps = [
        Step(
            "create_order", action=steps.create_order, compensation=steps.cancel_order, atomic=True
        ),
        Step(
            "reserve_inventory",
            command="inventory.reserve",
            compensation="inventory.release",
            payload=_pick("sku", "qty"),
            timeout=5,
            retry=REMOTE_RETRY,
        ),
        Step(
            "charge_payment",
            command="payment.charge",
            compensation="payment.refund",
            payload=_pick("amount"),
            timeout=5,
            retry=REMOTE_RETRY,
        ),
        Step(
            "schedule_shipping",
            command="shipping.schedule",
            pivot=True,
            payload=_pick("country"),
            timeout=5,
            retry=REMOTE_RETRY,
        ),
        Step(
            "send_confirmation",
            command="email.send",
            retriable=True,
            payload=_pick("sku", "qty", "amount", "country"),
            timeout=5,
        ),
    ]

    @classmethod
    def validate_input(cls, data: dict[str, Any]) -> None:
        sku = data.get("sku")
        if not isinstance(sku, str) or not 0 < len(sku) <= 64:
            raise InvalidSagaInput("input.sku must be a string of 1 to 64 characters")
        qty = data.get("qty")
        if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_QTY:
            raise InvalidSagaInput(f"input.qty must be a whole number from 1 to {MAX_QTY}")
        amount = data.get("amount")
        if (
            not isinstance(amount, (int, float))
            or isinstance(amount, bool)
            or not (0 <= amount <= 1e9)
        ):
            raise InvalidSagaInput("input.amount must be a number from 0 to 1e9")
        country = data.get("country")
        if not isinstance(country, str) or len(country) != 2 or not country.isupper():
            raise InvalidSagaInput("input.country must be a two-letter ISO code, e.g. FR")
