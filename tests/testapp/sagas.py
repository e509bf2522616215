"""The `ledger` saga: four steps that each apply one effect, deduplicated by idempotency key
through the inbox (ProcessedMessage), the way a participant would.

Input: {"sleep": seconds per step, "fail_at": step name to refuse (business error),
"sleep_first": seconds the first execution for each idempotency key sleeps}.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.db import IntegrityError, transaction

from sagas.definition import Retry, Saga, Step, StepContext
from sagas.exceptions import BusinessError
from sagas.models import ProcessedMessage

from .models import LedgerEntry, StepCall


class Refused(BusinessError):
    """The test asked this step to refuse."""


def apply_effect(ctx: StepContext) -> dict[str, Any]:
    StepCall.objects.create(
        saga_id=ctx.saga_id,
        step=ctx.step,
        phase=ctx.phase,
        idempotency_key=ctx.idempotency_key,
        pid=os.getpid(),
    )
    time.sleep(float(ctx.input.get("sleep", 0)))
    sleep_first = float(ctx.input.get("sleep_first", 0))
    if sleep_first and StepCall.objects.filter(idempotency_key=ctx.idempotency_key).count() == 1:
        time.sleep(sleep_first)
    if ctx.phase == "forward" and ctx.input.get("fail_at") == ctx.step:
        raise Refused(f"{ctx.step} refused, as the input asked")
    try:
        with transaction.atomic():
            ProcessedMessage.objects.create(
                consumer="ledger", idempotency_key=ctx.idempotency_key, result={"step": ctx.step}
            )
            LedgerEntry.objects.create(
                saga_id=ctx.saga_id,
                step=ctx.step,
                phase=ctx.phase,
                idempotency_key=ctx.idempotency_key,
            )
    except IntegrityError:
        pass  # a duplicate delivery: the first one applied the effect
    return {"step": ctx.step}


FAST = Retry(max_attempts=5, backoff=0.05, max_backoff=0.5)


class LedgerSaga(Saga):
    name = "ledger"
    steps = [
        Step("a", action=apply_effect, compensation=apply_effect, retry=FAST),
        Step("b", action=apply_effect, compensation=apply_effect, retry=FAST),
        Step("c", action=apply_effect, compensation=apply_effect, retry=FAST),
        Step("d", action=apply_effect, pivot=True, retry=FAST),
    ]


def prepare(ctx: StepContext) -> dict[str, Any]:
    return {"prepared": True}


class TracedSaga(Saga):
    """A local step, then a command to the demo payment service: one trace end to end."""

    name = "traced"
    steps = [
        Step("prepare", action=prepare, compensation=prepare),
        Step(
            "charge",
            command="payment.charge",
            payload=lambda ctx: {"amount": ctx.input["amount"]},
            timeout=20,
            retry=FAST,
        ),
    ]


def charge_card(ctx: StepContext) -> dict[str, Any]:
    card = ctx.input.get("card_number", "")
    # Careless step code that quotes the card in its errors (tests/sensitive).
    if ctx.input.get("decline"):
        raise Refused(f"card {card} declined")
    if ctx.input.get("crash"):
        raise ValueError(f"cannot charge card {card}")
    # A processor's token is as sensitive as the card: the definition marks it.
    return {"token": f"tok-{ctx.input['card_number'][-4:]}-secret", "approved": True}


def note(ctx: StepContext) -> dict[str, Any]:
    return {"noted": ctx.step}


class VaultSaga(Saga):
    """Sensitive input and results (tests/sensitive): a card number, a nested e-mail, the
    charge's token."""

    name = "vault"
    sensitive = ["card_number", "customer.email", "result.charge.token"]
    steps = [
        Step("charge", action=charge_card, compensation=note, retry=FAST),
        Step("confirm", action=note, pivot=True, retry=FAST),
    ]
