"""How many frames a browser may send: a token bucket per socket. A page pings now and
then and asks for one replay when it reconnects, so that is always answered; a flood is
dropped unread, costing one error frame instead of one database read per frame."""

from __future__ import annotations

import time
from collections.abc import Callable


class FrameBudget:
    """`burst` frames at once, refilled at `per_second`; `spend()` says whether one more
    frame may be handled now."""

    def __init__(
        self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.tokens = float(burst)
        self.at = clock()

    def spend(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
