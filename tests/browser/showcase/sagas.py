"""The `shipment` saga the browser tests drive: four steps (compensatable, compensatable,
pivot, retriable) whose outcome the input decides, and which can wait on gates so a test
lets each step finish when it chooses (no race between the page and the worker).

Input: {"gates": dir (a forward step waits for the file dir/<step> before it finishes),
"fail_at": step (refused, with "message" as the error), "flaky": step (fails twice
before it succeeds), "stuck": step (its compensation fails, until the file named by
"repair" exists: the test's "the payment service is fixed"), "sleep": seconds}.

The `payout` saga (a step, then a pivot) takes the same input; the bulk test runs
hundreds of them into `failed` in a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sagas.definition import Retry, Saga, Step, StepContext
from sagas.exceptions import BusinessError

FAST = Retry(max_attempts=4, backoff=0.05, max_backoff=0.2)
GATE_TIMEOUT = 120.0


class Refused(BusinessError):
    """The input asked this step to refuse."""


def wait_for_gate(ctx: StepContext) -> None:
    gates = ctx.input.get("gates")
    if not gates:
        return
    gate = Path(gates) / ctx.step
    deadline = time.monotonic() + GATE_TIMEOUT
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def act(ctx: StepContext) -> dict[str, Any]:
    time.sleep(float(ctx.input.get("sleep", 0)))
    wait_for_gate(ctx)
    if ctx.input.get("fail_at") == ctx.step:
        raise Refused(str(ctx.input.get("message") or f"{ctx.step} refused"))
    if ctx.input.get("flaky") == ctx.step and ctx.attempt < 3:
        raise ConnectionError(f"{ctx.step}: upstream reset the connection (attempt {ctx.attempt})")
    return {"step": ctx.step, "attempt": ctx.attempt}


def undo(ctx: StepContext) -> dict[str, Any]:
    time.sleep(float(ctx.input.get("sleep", 0)))
    repaired = ctx.input.get("repair") and Path(ctx.input["repair"]).exists()
    if ctx.input.get("stuck") == ctx.step and not repaired:
        raise ConnectionError(f"{ctx.step}: the refund service is down")
    return {"undone": ctx.step}


# Steps with a timeout run on the worker's pool, so one waiting at its gate holds up no other.
class ShipmentSaga(Saga):
    name = "shipment"
    steps = [
        Step("reserve", action=act, compensation=undo, retry=FAST, timeout=150),
        Step(
            "charge",
            action=act,
            compensation=undo,
            retry=FAST,
            compensation_retry=Retry(max_attempts=2, backoff=0.05),
            timeout=150,
        ),
        Step("ship", action=act, pivot=True, retry=FAST, timeout=150),
        Step("notify", action=act, retriable=True, timeout=150),
    ]


class PayoutSaga(Saga):
    name = "payout"
    steps = [
        Step(
            "debit",
            action=act,
            compensation=undo,
            compensation_retry=Retry(max_attempts=2, backoff=0.05),
        ),
        Step("transfer", action=act, pivot=True),
    ]
