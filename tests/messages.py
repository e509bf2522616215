"""A participant command as the relay delivers it, with any header changed or left out."""

from __future__ import annotations

import uuid


def command(key: str | None = None, amount: float = 25, **headers) -> dict:
    saga_id = str(uuid.uuid4())
    base = {
        "message_id": str(uuid.uuid4()),
        "saga_id": saga_id,
        "saga_type": "order",
        "step": "charge_payment",
        "phase": "forward",
        "attempt": 1,
        "idempotency_key": key or f"{saga_id}:charge_payment:forward:1",
        "correlation_id": "order-7",
        "reply_to": "orchestrator",
        "command": "payment.charge",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "baggage": "saga.id=x,saga.correlation_id=order-7",
    }
    base.update(headers)
    return {"headers": {k: v for k, v in base.items() if v is not None}, "body": {"amount": amount}}
