"""Hands channel-layer messages off without blocking, and without ever raising, the caller.

Two cases. channels-redis (REDIS_URL set; workers are other processes): one background
thread runs an event loop that sends the messages in order, with connections kept open.
The in-memory layer (the embedded demo, tests): its queues belong to the event loop that
serves the websockets, so messages are scheduled on that loop, which the consumers adopt
when they connect; a process with no such loop has no listener, and sends nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

log = logging.getLogger(__name__)

Message = tuple[str, dict[str, Any]]  # (group, message)

MAX_BACKLOG = 10_000  # messages waiting for the background loop; past it, new ones drop
WARN_EVERY = 30.0  # seconds between two warnings about failed publishes


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[Any, Sequence[Message]]] | None = None
        self._backlog = 0
        self._last_warning = 0.0
        self.failures = 0

    def adopt_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop serving this process's websockets (called by every consumer)."""
        self._serving_loop = loop

    def publish(self, messages: Sequence[Message]) -> None:
        """Send `messages` (group, message) soon; never blocks, never raises."""
        if not messages:
            return
        try:
            layer = get_channel_layer()
            if layer is None:
                return
            if isinstance(layer, InMemoryChannelLayer):
                self._publish_in_memory(layer, messages)
            else:
                self._publish_in_background(layer, messages)
        except Exception as exc:  # a push is a hint; the saga's path must not see this
            self._failed(exc)

    def _publish_in_memory(self, layer: Any, messages: Sequence[Message]) -> None:
        loop = self._serving_loop
        if loop is None or loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(_send(layer, messages), loop)
        future.add_done_callback(self._check)

    def _publish_in_background(self, layer: Any, messages: Sequence[Message]) -> None:
        loop, queue = self._background()
        with self._lock:
            if self._backlog >= MAX_BACKLOG:
                raise OverflowError(f"{self._backlog} messages waiting; dropping new ones")
            self._backlog += len(messages)
        loop.call_soon_threadsafe(queue.put_nowait, (layer, messages))

    def _background(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue]:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(loop, ready), name="live-publisher", daemon=True
                )
                thread.start()
                ready.wait(5)
                self._loop = loop
            assert self._queue is not None
            return self._loop, self._queue

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._queue = asyncio.Queue()
        loop.create_task(self._drain(self._queue))
        ready.set()
        loop.run_forever()

    async def _drain(self, queue: asyncio.Queue) -> None:
        # One sender, in order: a saga's changes reach the layer in the order they committed.
        while True:
            layer, messages = await queue.get()
            try:
                await _send(layer, messages)
            except Exception as exc:
                self._failed(exc)
            finally:
                with self._lock:
                    self._backlog -= len(messages)

    def _check(self, future: Future) -> None:
        exc = future.exception() if not future.cancelled() else None
        if exc is not None:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._last_warning > WARN_EVERY:
            self._last_warning = now
            log.warning(
                "live push failed (%d so far); browsers catch up from the event table: %s",
                self.failures,
                exc,
            )


async def _send(layer: Any, messages: Sequence[Message]) -> None:
    for group, message in messages:
        await layer.group_send(group, message)


publisher = Publisher()
