"""Coalescing bursts: run an async action at most once per interval."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Throttle:
    """`trigger()` runs `action` now if it has not run for `interval` seconds, otherwise
    once when the interval ends; triggers in between are absorbed by that one run.

    `adaptive`: the wait after a run is what the run cost, times SPARE, between FLOOR and
    `interval`: a quiet feed sends each change at once, a busy one coalesces as much as its
    sending costs (a hundred sockets), never more than `interval`."""

    SPARE = 2.0  # waiting twice what a run took: at most a third of the time spent sending
    FLOOR = 0.01  # seconds: at most a hundred runs a second, however cheap

    def __init__(
        self, interval: float, action: Callable[[], Awaitable[None]], adaptive: bool = False
    ) -> None:
        self.interval = interval
        self.action = action
        self.adaptive = adaptive
        self._cost = 0.0  # how long the last run took
        self._last = float("-inf")
        self._pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def trigger(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a run scheduled on a loop that has ended never comes
            self._loop, self._pending, self._last = loop, False, float("-inf")
        if self._pending:
            return
        self._pending = True
        task = loop.create_task(self._run(max(0.0, self._last + self._gap() - loop.time())))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _gap(self) -> float:
        if not self.adaptive:
            return self.interval
        return min(self.interval, max(min(self.FLOOR, self.interval), self._cost * self.SPARE))

    async def _run(self, wait: float) -> None:
        if wait > 0:
            await asyncio.sleep(wait)
        # Cleared before the action, so a trigger during it schedules the next run.
        self._pending = False
        loop = asyncio.get_running_loop()
        self._last = began = loop.time()
        try:
            await self.action()
        except Exception:
            log.warning("live update failed", exc_info=True)
        self._cost = loop.time() - began

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._pending = False
