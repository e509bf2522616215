"""GET /api/circuits: the relay's circuit breaker per destination (see messaging/circuits.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from sagas.engine.leases import database_now
from sagas.messaging import circuits
from sagas.services.actors import READ_SAGAS, require

from .auth import actor_of
from .schemas import MessageOut

router = Router(tags=["participants"])


class CircuitOut(Schema):
    destination: str
    state: Literal["closed", "open", "half_open"]
    failures: int
    opened_at: datetime | None
    retry_at: datetime | None
    retry_in_seconds: float | None
    cooldown_seconds: float
    last_error: str


@router.get(
    "/circuits",
    response={200: list[CircuitOut], 401: MessageOut, 403: MessageOut},
    summary="Each HTTP participant's circuit: closed (sending), open (resting) or half-open",
)
def list_circuits(request: HttpRequest) -> list[dict]:
    require(actor_of(request), READ_SAGAS, "circuits")
    return circuits.describe_all(database_now())
