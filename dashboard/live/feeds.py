"""The list feed, the overview and the outbox: sockets about many sagas at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from django.db.models import Max

from sagas.models import SagaEvent, SagaInstance
from sagas.serializers import SUMMARY_FIELDS
from sagas.services.queries import page

from .. import conf, filters, operator, overview, payloads, selection
from .. import outbox as outbox_figures
from .. import problems as problem_figures
from . import listfeed
from .consumer import LiveConsumer
from .hub import hub
from .throttle import Throttle

REPLAY_SAGAS = 2000  # past this many changed sagas a browser is told to reload instead


class SagaListConsumer(LiveConsumer):
    """The list page: rows matching the page's filters, new and changed, coalesced (see
    listfeed.py: sockets with the same filters share the work), each with its <tr>."""

    async def prepare(self, params: dict[str, str]) -> None:
        # Whether the rows carry the bulk tick box, as the page that opened the socket does.
        self.bulk = bool(await database_sync_to_async(operator.bulk_actions)(self.scope["user"]))
        self.after = filters.parse_after(params.get("after"))
        self.query = filters.parse(
            {k: v for k, v in params.items() if k != "after"}, filters.LIVE_PARAMS
        )
        # Rows that arrive while the snapshot is read and sent wait here, then follow it;
        # so does the latest count (it may be newer than the snapshot's).
        self.backlog: dict[str, dict[str, Any]] | None = {}
        self.count_frame: str | None = None

    async def snapshot(self) -> None:
        await listfeed.subscribe(self, self.query, self.bulk)  # first: the snapshot misses nothing
        data = await database_sync_to_async(self.read_snapshot)(self.after)
        await self.send_frame({"type": "snapshot", **data})
        waiting, self.backlog = self.backlog or {}, None
        if waiting:
            rows = list(waiting.values())
            last = max(r["event_id"] for r in rows)
            await self.send_frame({"type": "sagas", "sagas": rows, "last_event_id": last})
        if self.count_frame is not None:
            await self.send(text_data=self.count_frame)
            self.count_frame = None

    async def take(self, rows: list[dict[str, Any]], text: str) -> None:
        if self.closed:
            return
        if self.backlog is not None:
            for row in rows:
                self.backlog[row["id"]] = row
            if not rows:
                self.count_frame = text
            return
        await self.send(text_data=text)

    async def replay(self, after: int) -> None:
        data = await database_sync_to_async(self.read_snapshot)(after, rows=False)
        await self.send_frame({"type": "snapshot", **data})

    def read_snapshot(self, after: int | None, rows: bool = True) -> dict[str, Any]:
        last = SagaEvent.objects.aggregate(m=Max("id"))["m"] or 0
        if after is not None and last - after > conf.replay_window():
            # Catching up would scan every event since `after`, for any socket asking from
            # 0: the page reloads instead (live.js does that on "behind"), at no cost.
            return {"rows": None, "changed": [], "behind": True, "last_event_id": last}
        first_page = None
        if rows and not self.query.cursor:
            found, _ = page(self.query.saga_filter, None, conf.page_size())
            first_page = payloads.with_html(
                [payloads.list_row(s) for s in found], bulk=self.bulk, columns=self.query.columns
            )
        changed: list[dict[str, Any]] = []
        behind = False
        if after is not None and after < last:
            latest = dict(
                SagaEvent.objects.filter(id__gt=after, id__lte=last)
                .order_by()
                .values_list("saga_id")
                .annotate(m=Max("id"))[: REPLAY_SAGAS + 1]
            )
            behind = len(latest) > REPLAY_SAGAS
            matching = self.query.saga_filter.apply(SagaInstance.objects.filter(id__in=latest))
            changed = payloads.with_html(
                [payloads.list_row(s, latest[s.id]) for s in matching.only(*SUMMARY_FIELDS)],
                bulk=self.bulk,
                columns=self.query.columns,
            )
        data = {"rows": first_page, "changed": changed, "behind": behind, "last_event_id": last}
        if self.bulk:  # the bulk bar's "all N match", as of now
            data["matching"] = selection.matching(self.query.saga_filter)
        return data

    def stop(self) -> None:
        if hasattr(self, "query"):
            listfeed.unsubscribe(self, self.query, self.bulk)


class RefreshingConsumer(LiveConsumer):
    """A page of figures recomputed when sagas change, at most every few seconds, and on a
    timer too, because time changes some of them with no saga changing. Subclasses set
    `kind` and `compute`."""

    IDLE_REFRESH = 15.0
    kind = ""

    async def prepare(self, params: dict[str, str]) -> None:
        self.throttle = Throttle(conf.overview_refresh_seconds(), self.push)
        self.timer: asyncio.Task[None] | None = None

    async def snapshot(self) -> None:
        await hub.join(self)
        await self.push()
        self.timer = asyncio.get_running_loop().create_task(self.tick())

    async def push(self) -> None:
        if self.closed:
            return
        data = await database_sync_to_async(self.compute)()
        await self.send_frame({"type": self.kind, **data})

    def compute(self) -> dict[str, Any]:
        raise NotImplementedError

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(self.IDLE_REFRESH)
            self.throttle.trigger()

    def feed(self, message: dict[str, Any]) -> None:
        self.throttle.trigger()

    def stop(self) -> None:
        hub.leave(self)
        if hasattr(self, "throttle"):
            self.throttle.cancel()
        if getattr(self, "timer", None) is not None:
            self.timer.cancel()


class OverviewConsumer(RefreshingConsumer):
    """The overview: a saga with no progress changes nothing, yet becomes stuck."""

    kind = "overview"

    async def prepare(self, params: dict[str, str]) -> None:
        unknown = sorted(set(params) - {"after"})
        if unknown:
            raise filters.InvalidQuery("the overview takes no parameters", unknown[0])
        filters.parse_after(params.get("after"))  # always a full snapshot; checked all the same
        await super().prepare(params)

    def compute(self) -> dict[str, Any]:
        return overview.cached(conf.overview_refresh_seconds())


class OutboxConsumer(LiveConsumer):
    """The outbox: the relay marks messages sent without a saga event, so it is re-read on
    a timer; a frame goes out only when the figures changed."""

    async def prepare(self, params: dict[str, str]) -> None:
        if params:
            raise filters.InvalidQuery("the outbox takes no parameters", sorted(params)[0])
        self.sent = ""
        self.timer: asyncio.Task[None] | None = None

    async def snapshot(self) -> None:
        await self.push(always=True)
        self.timer = asyncio.get_running_loop().create_task(self.tick())

    async def push(self, always: bool = False) -> None:
        data = await database_sync_to_async(outbox_figures.compute)()
        # Ages grow every second; compare what changed apart from them.
        circuits = [(c["destination"], c["state"], c["failures"]) for c in data["circuits"]]
        key = json.dumps(
            [data["pending"], data["dead"], [m["id"] for m in data["messages"]], circuits],
            default=str,
        )
        if always or key != self.sent:
            self.sent = key
            await self.send_frame({"type": "outbox", **data})

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(conf.outbox_poll_seconds())
            await self.push()

    def stop(self) -> None:
        if getattr(self, "timer", None) is not None:
            self.timer.cancel()


class ProblemsConsumer(RefreshingConsumer):
    """The Problems page: the groups matching its filters (a failure or a repair moves a
    count; a snooze runs out with no saga changing)."""

    kind = "problems"

    async def prepare(self, params: dict[str, str]) -> None:
        self.query = problem_figures.parse(params)
        filters.parse_after(params.get("after"))  # always a full snapshot; checked all the same
        await super().prepare(params)

    def compute(self) -> dict[str, Any]:
        return problem_figures.compute(self.query)
