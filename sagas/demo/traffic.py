"""A stream of order sagas with a realistic mix of outcomes, for the demo."""

from __future__ import annotations

import itertools
import logging
import random
import threading
from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.models import F
from django.db.models.functions import Length

from sagas.models import SagaInstance
from sagas.services.start import start_saga

from .models import StockItem
from .participants import SERVED_COUNTRIES
from .scenarios import SCENARIOS, Scenario

log = logging.getLogger("sagas.demo")

SKUS = ["MUG-BLUE", "MUG-RED", "TEE-S", "TEE-M", "TEE-L", "CAP", "SOCKS", "POSTER"]
COUNTRIES = sorted(SERVED_COUNTRIES)
ORDER_PREFIX = "ord-"


def order_input(rng: random.Random) -> dict[str, Any]:
    """An order; about one in five is refused for a business reason, as in real shops."""
    order = {
        "sku": rng.choice(SKUS),
        "qty": rng.randint(1, 3),
        "amount": round(rng.uniform(5, 400), 2),
        "country": rng.choice(COUNTRIES),
    }
    roll = rng.random()
    if roll < 0.07:
        order["qty"] = rng.randint(120, 200)  # more than the stock
    elif roll < 0.14:
        order["amount"] = round(rng.uniform(1001, 5000), 2)  # declined
    elif roll < 0.19:
        order["country"] = "AQ"  # never served
    return order


def next_order_number() -> int:
    """One past the highest demo order number in the database, so a restarted demo goes on
    from `ord-000124` instead of giving a second saga the id `ord-000001`."""
    numbered = (
        SagaInstance.objects.filter(correlation_id__startswith=ORDER_PREFIX)
        .filter(correlation_id__regex=rf"^{ORDER_PREFIX}[0-9]+$")
        # Longest first: ord-1000000 comes after ord-999999.
        .order_by(Length("correlation_id").desc(), "-correlation_id")
        .values_list("correlation_id", flat=True)
    )
    highest = numbered.first()
    return int(highest.removeprefix(ORDER_PREFIX)) + 1 if highest else 1


def restock(minimum: int = 20) -> None:
    """Keep the demo SKUs in stock so refusals stay deliberate."""
    skus = [*SKUS, *(s.sku for s in SCENARIOS)]
    StockItem.objects.filter(sku__in=skus, on_hand__lt=F("reserved") + minimum).update(
        on_hand=F("on_hand") + StockItem.INITIAL_UNITS
    )


class Traffic:
    """Starts an order every `interval` seconds or so; every other one of the first few is
    a seeded scenario (scenarios.py), so they all start within seconds of each run."""

    def __init__(
        self,
        interval: float = 1.0,
        seed: int | None = None,
        scenarios: Sequence[Scenario] = (),
    ) -> None:
        self.interval = interval
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._numbers: itertools.count[int] | None = None  # from the database, at the first order
        self._seeds = list(scenarios)
        self._started = 0

    def run(self) -> None:
        try:
            while not self._stop.wait(self.rng.uniform(0.5, 1.5) * self.interval):
                self.start_one()
        finally:
            connections.close_all()  # this thread is done with them

    def start_one(self) -> None:
        try:
            if self._numbers is None:
                self._numbers = itertools.count(next_order_number())
            number = next(self._numbers)
            restock()
            self._started += 1
            seeded = self._seeds.pop(0) if self._seeds and self._started % 2 == 0 else None
            correlation_id = f"{ORDER_PREFIX}{number:06d}"
            start_saga(
                "order",
                dict(seeded.order) if seeded else order_input(self.rng),
                correlation_id=correlation_id,
                actor="demo-traffic",
            )
            if seeded:
                log.info("seeded order %s (%s): soon %s", correlation_id, seeded.name, seeded.shows)
        except Exception:  # the demo keeps going; the log says what happened
            log.exception("could not start a demo order")

    def stop(self) -> None:
        self._stop.set()
