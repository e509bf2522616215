"""The list feed shared by every socket of one process that shows the same filters (with or
without the bulk tick box): rows are matched, coalesced, rendered and JSON-encoded once per
burst, then sent to each of them. With the bulk bar, the feed also keeps its "all N match"
count live: recounted after sagas change (any saga: one may have left the filter), at most
every few seconds."""

from __future__ import annotations

import json
from typing import Any, Protocol

from channels.db import database_sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from sagas.exceptions import InvalidQuery

from .. import conf, payloads, selection
from ..filters import ListFilters
from .hub import hub
from .throttle import Throttle


class Socket(Protocol):
    async def take(self, rows: list[dict[str, Any]], text: str) -> None:
        """Send one frame (already encoded as `text`): of rows, or with none, a count."""


class SharedFeed:
    def __init__(self, key: tuple[str, bool], query: ListFilters, bulk: bool) -> None:
        self.key = key
        self.query = query
        self.bulk = bulk
        self.sockets: set[Socket] = set()
        self.pending: dict[str, dict[str, Any]] = {}
        self.throttle = Throttle(conf.coalesce_seconds(), self.flush, adaptive=True)
        self.counter = Throttle(conf.count_refresh_seconds(), self.recount)
        self.counted: dict[str, Any] | None = None  # the count last sent

    def feed(self, message: dict[str, Any]) -> None:
        if self.bulk and message["sagas"]:
            self.counter.trigger()
        for row in message["sagas"]:
            if not self.query.matches(row):
                continue
            held = self.pending.get(row["id"])
            if held is None or held["version"] <= row["version"]:
                self.pending[row["id"]] = row
        if self.pending:
            self.throttle.trigger()

    async def flush(self) -> None:
        rows, self.pending = list(self.pending.values()), {}
        if self.query.is_query:
            try:
                rows = await database_sync_to_async(self.query.confirmed)(rows)
            except InvalidQuery:  # too slow this time: the page still holds the rows it had
                return
        if not rows:
            return
        rows = payloads.with_html(rows, bulk=self.bulk, columns=self.query.columns)
        frame = {"type": "sagas", "sagas": rows, "last_event_id": max(r["event_id"] for r in rows)}
        text = json.dumps(frame, cls=DjangoJSONEncoder)
        for socket in list(self.sockets):
            await socket.take(rows, text)

    async def recount(self) -> None:
        figures = await database_sync_to_async(selection.matching)(self.query.saga_filter)
        if figures == self.counted:
            return
        self.counted = figures
        text = json.dumps({"type": "count", **figures})
        for socket in list(self.sockets):
            await socket.take([], text)


_feeds: dict[tuple[str, bool], SharedFeed] = {}


async def subscribe(socket: Socket, query: ListFilters, bulk: bool) -> None:
    """Feed `socket` the rows matching `query` from now on, with tick boxes if `bulk`."""
    key = (query.params(), bulk)
    feed = _feeds.get(key)
    if feed is None:
        feed = _feeds[key] = SharedFeed(key, query, bulk)
    feed.sockets.add(socket)
    feed.counted = None  # the newcomer's snapshot counts for itself: the next count goes out
    await hub.join(feed)


def unsubscribe(socket: Socket, query: ListFilters, bulk: bool) -> None:
    feed = _feeds.get((query.params(), bulk))
    if feed is None:
        return
    feed.sockets.discard(socket)
    if not feed.sockets:
        hub.leave(feed)
        feed.throttle.cancel()
        feed.counter.cancel()
        del _feeds[feed.key]
