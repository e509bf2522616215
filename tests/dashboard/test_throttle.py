"""The list feed's coalescing: a quiet feed sends each change at once; a busy one holds
changes back for as long as sending costs, never longer than its interval."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from dashboard.live.throttle import Throttle


def runs(cost: float, every: float, interval: float) -> list[list[float]]:
    """Ten triggers `every` seconds apart into an adaptive throttle whose run takes `cost`
    seconds: for each run, how long each trigger it took in had waited."""

    async def scenario() -> list[list[float]]:
        loop = asyncio.get_running_loop()
        waiting: list[float] = []
        taken: list[list[float]] = []

        async def send() -> None:
            now = loop.time()
            taken.append([now - t for t in waiting])
            waiting.clear()
            await asyncio.sleep(cost)

        throttle = Throttle(interval, send, adaptive=True)
        for _ in range(10):
            waiting.append(loop.time())
            throttle.trigger()
            await asyncio.sleep(every)
        await asyncio.sleep(interval + cost + 0.1)
        return taken

    # A thread of its own: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result()


def test_a_quiet_feed_sends_each_change_on_its_own():
    # A change every 20 ms, sending costs nothing: a fixed 50 ms throttle sent them in
    # pairs and threes, holding some up to 50 ms; each now goes in a run of its own.
    assert [len(run) for run in runs(cost=0, every=0.02, interval=0.05)] == [1] * 10


def test_a_busy_feed_coalesces_as_much_as_sending_costs_but_no_more_than_its_interval():
    # Sending takes 15 ms and changes come every 2 ms: they go together, a run's worth.
    taken = runs(cost=0.015, every=0.002, interval=0.05)
    assert sum(len(run) for run in taken) == 10
    assert len(taken) < 10
    assert max(max(run) for run in taken) < 0.05 + 0.015 + 0.05
