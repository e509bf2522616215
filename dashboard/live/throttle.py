"""Coalescing bursts: run an async action at most once per interval."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Throttle:
    """`trigger()` runs `action` now if it has not run for `interval` seconds, otherwise
    once when the interval ends; triggers in between are absorbed by that one run."""

    def __init__(self, interval: float, action: Callable[[], Awaitable[None]]) -> None:
        self.interval = interval
        self.action = action
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
        task = loop.create_task(self._run(max(0.0, self._last + self.interval - loop.time())))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, wait: float) -> None:
        if wait > 0:
            await asyncio.sleep(wait)
        # Cleared before the action, so a trigger during it schedules the next run.
        self._pending = False
        self._last = asyncio.get_running_loop().time()
        try:
            await self.action()
        except Exception:
            log.warning("live update failed", exc_info=True)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._pending = False
