"""Delivery faults for reliability tests: every message twice, the copy late and out of
order. Off unless SAGASCOPE_CHAOS_DELIVERY names them ("duplicate,reorder").

At-least-once delivery allows exactly this, so the system must absorb it: participants
through their inbox, the orchestrator by ignoring replies that match no waiting attempt.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def modes() -> set[str]:
    return {
        m.strip() for m in os.environ.get("SAGASCOPE_CHAOS_DELIVERY", "").split(",") if m.strip()
    }


class Redelivery:
    """Holds back a copy of what was delivered, to deliver it again in a later batch, after
    newer messages (so duplicates also arrive out of order)."""

    def __init__(self) -> None:
        active = modes()
        self.duplicate = "duplicate" in active
        self.reorder = "reorder" in active
        self._held: list = []

    def arrange(self, batch: Sequence[T]) -> list[T]:
        """The batch to deliver now: shuffled if asked."""
        items = list(batch)
        if self.reorder:
            random.shuffle(items)
        return items

    def hold(self, item: object) -> None:
        if self.duplicate:
            self._held.append(item)

    def release(self) -> list:
        """Copies held back from earlier batches, to deliver again now."""
        held, self._held = self._held, []
        return self.arrange(held)
