"""One subscription to the feed group per web process, fanned out to its sockets.

If every open list or overview page joined the feed group itself, each committed batch
would be one channel-layer message per browser: a hundred browsers on one daphne process
means a hundred Redis pops per commit, and at a few dozen commits a second the process
falls seconds behind. The hub joins the group once per process and hands each message to
the sockets of this process, which only buffer it (no I/O) and flush on their own timers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from channels.layers import get_channel_layer

from .broadcast import FEED_GROUP

log = logging.getLogger(__name__)

# channels-redis forgets group members after a day (group_expiry); re-join well before.
REJOIN_SECONDS = 3600.0


class Listener(Protocol):
    def feed(self, message: dict[str, Any]) -> None:
        """Take one feed message; must not block or do I/O."""


class FeedHub:
    def __init__(self) -> None:
        self.listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._layer: Any = None
        self._subscribed: asyncio.Future[None] | None = None

    async def join(self, listener: Listener) -> None:
        """Start `listener` on the feed; returns once this process is subscribed, so a
        snapshot read after it misses nothing."""
        self.listeners.add(listener)
        layer = get_channel_layer()
        # A new loop (tests) or a new layer (settings changed) needs a new subscription.
        if self._task is None or self._task.done() or layer is not self._layer:
            if self._task is not None:
                self._task.cancel()
            loop = asyncio.get_running_loop()
            self._layer = layer
            self._subscribed = loop.create_future()
            self._task = loop.create_task(self._run(layer, self._subscribed))
        assert self._subscribed is not None
        await asyncio.shield(self._subscribed)

    def leave(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    async def _run(self, layer: Any, subscribed: asyncio.Future[None]) -> None:
        try:
            # The consumers' own prefix: channels-redis then pops the hub's messages in the
            # same receive loop as theirs, instead of two loops taking turns on one lock.
            channel = await layer.new_channel()
            await layer.group_add(FEED_GROUP, channel)
        except Exception as exc:
            subscribed.set_exception(exc)
            return
        subscribed.set_result(None)
        joined = time.monotonic()
        while True:
            try:
                if time.monotonic() - joined > REJOIN_SECONDS:
                    await layer.group_add(FEED_GROUP, channel)
                    joined = time.monotonic()
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the layer is down: the pages catch up by replay later
                log.warning("live feed subscription failed, retrying: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for listener in list(self.listeners):
                try:
                    listener.feed(message)
                except Exception:
                    log.warning("a live socket could not take a feed message", exc_info=True)


hub = FeedHub()
