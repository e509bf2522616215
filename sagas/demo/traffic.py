"""A stream of order sagas with a realistic mix of outcomes, for the demo."""

from __future__ import annotations

import itertools
import logging
import random
import threading
from typing import Any

from django.db import close_old_connections
from django.db.models import F

from sagas.services.start import start_saga

from .models import StockItem
from .participants import SERVED_COUNTRIES

log = logging.getLogger("sagas.demo")

SKUS = ["MUG-BLUE", "MUG-RED", "TEE-S", "TEE-M", "TEE-L", "CAP", "SOCKS", "POSTER"]
COUNTRIES = sorted(SERVED_COUNTRIES)


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


def restock(minimum: int = 20) -> None:
    """Keep the demo SKUs in stock so refusals stay deliberate."""
    StockItem.objects.filter(sku__in=SKUS, on_hand__lt=F("reserved") + minimum).update(
        on_hand=F("on_hand") + StockItem.INITIAL_UNITS
    )


class Traffic:
    def __init__(self, interval: float = 1.0, seed: int | None = None) -> None:
        self.interval = interval
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._numbers = itertools.count(1)

    def run(self) -> None:
        try:
            while not self._stop.wait(self.rng.uniform(0.5, 1.5) * self.interval):
                self.start_one()
        finally:
            close_old_connections()

    def start_one(self) -> None:
        number = next(self._numbers)
        try:
            restock()
            start_saga(
                "order",
                order_input(self.rng),
                correlation_id=f"ord-{number:06d}",
                actor="demo-traffic",
            )
        except Exception:  # the demo keeps going; the log says what happened
            log.exception("could not start demo order %d", number)

    def stop(self) -> None:
        self._stop.set()
