"""The demo's seeded scenarios: a few orders that go wrong on purpose in the first seconds
of every run, the same way each time, so that the Problems page, the operator's actions
and a slow saga have something to show at once instead of waiting for bad luck.

Each is an order for a SKU that the demo's faults treat specially (faults.py; only while
faults are on, so `manage.py demo --no-faults` runs them as ordinary orders). A failure
hits only the first generation of a step's idempotency key: once an operator presses
Retry, the step goes through, as it would once the real service were fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    shows: str  # what the operator finds, in a few words
    order: dict[str, Any]  # the saga's input
    # "service.command" that fails (a transient error, so it is retried until it runs out)
    fails: str = ""
    error: str = ""
    # "service.command" whose replies come after its step's timeout, attempt after attempt
    late: str = ""
    late_attempts: int = 0
    # the SKU the faults recognise the order by (the order's own)
    sku: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sku", self.order["sku"])


LATE_SECONDS = 8.0  # past every demo step's timeout (5 s)

SCENARIOS = (
    Scenario(
        "refund fails",
        "failed while compensating: its refund ran out of retries",
        # AQ is never served: the pivot refuses it, so the payment must be refunded.
        {"sku": "GIFT-CARD", "qty": 1, "amount": 120.0, "country": "AQ"},
        fails="payment.refund",
        error="payment provider: refund endpoint answered 502 Bad Gateway",
    ),
    Scenario(
        "release fails",
        "failed while compensating: releasing its stock ran out of retries",
        # Over the card limit: the charge is declined, so the reserved stock is released.
        {"sku": "VASE-CRYSTAL", "qty": 1, "amount": 2400.0, "country": "FR"},
        fails="inventory.release",
        error="warehouse system: the stock of this SKU is locked by a stocktake",
    ),
    Scenario(
        "slow confirmation",
        "running for about a minute: its confirmation email times out, again and again",
        {"sku": "PIANO", "qty": 1, "amount": 640.0, "country": "JP"},
        late="email.send",
        # Retried with backoff 0.5, 1, 2, 4, 8, 16 s after each 5 s timeout: about 60 s.
        late_attempts=6,
    ),
)


def failing(command: str, sku: str | None) -> Scenario | None:
    """The scenario whose `command` (service.command) fails for this order's SKU."""
    return next((s for s in SCENARIOS if s.fails == command and s.sku == sku), None)


def late(command: str, sku: str | None, attempt: int) -> Scenario | None:
    """The scenario whose reply to this attempt comes after its step's timeout."""
    found = (s for s in SCENARIOS if s.late == command and s.sku == sku)
    return next((s for s in found if attempt <= s.late_attempts), None)


def needs_lookup(command: str) -> bool:
    """Whether some scenario fails `command`, whose body may not name the SKU."""
    return any(s.fails == command for s in SCENARIOS)
