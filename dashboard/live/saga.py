"""One saga's detail feed: its events after the last id the browser saw, and the attempts
they touched.

Replay by id is exact here: a saga's events are written under its row lock (the worker's
lease, the action layer's SELECT FOR UPDATE), so its ids commit in order and "after the
last id seen" never skips one. Pushes are only hints that there is something to read.
"""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.db.models import Q
from django.utils import timezone

from sagas import serializers
from sagas.models import SagaEvent, SagaInstance, StepAttempt

from .. import filters, payloads
from .broadcast import saga_group
from .consumer import LiveConsumer, NotFound

MAX_EVENTS = 5000  # per frame; a browser further behind than this reloads the page


class SagaConsumer(LiveConsumer):
    async def prepare(self, params: dict[str, str]) -> None:
        unknown = sorted(set(params) - {"after"})
        if unknown:
            raise filters.InvalidQuery(f"unknown parameter {unknown[0]!r}", unknown[0])
        self.after = filters.parse_after(params.get("after"))
        self.saga_id = uuid.UUID(str(self.scope["url_route"]["kwargs"]["saga_id"]))
        if not await database_sync_to_async(SagaInstance.objects.filter(id=self.saga_id).exists)():
            raise NotFound(f"no saga has id {self.saga_id}")
        self.last_id = self.after or 0
        # Attempts the browser holds that may still change, and the newest one it has.
        self.open_attempts: set[int] = set()
        self.newest_attempt = 0

    def live_groups(self) -> list[str]:
        return [saga_group(self.saga_id)]

    async def snapshot(self) -> None:
        await self.send_changes("snapshot", self.last_id, every_attempt=True)

    async def replay(self, after: int) -> None:
        await self.send_changes("update", after, every_attempt=True)

    async def saga_changed(self, message: dict[str, Any]) -> None:
        # Hints queue up while a read runs; one read covers them all.
        if message.get("event_id", 0) > self.last_id:
            await self.send_changes("update", self.last_id)

    async def send_changes(self, kind: str, after: int, every_attempt: bool = False) -> None:
        data = await database_sync_to_async(self.read)(after, every_attempt)
        if kind == "update" and not data["events"] and not data["attempts"]:
            return
        await self.send_frame({"type": kind, **data})

    def read(self, after: int, every_attempt: bool) -> dict[str, Any]:
        events = list(
            SagaEvent.objects.filter(saga_id=self.saga_id, id__gt=after).order_by("id")[
                : MAX_EVENTS + 1
            ]
        )
        behind = len(events) > MAX_EVENTS
        events = events[:MAX_EVENTS]
        attempts = StepAttempt.objects.filter(saga_id=self.saga_id)
        if not every_attempt:
            attempts = attempts.filter(Q(id__in=self.open_attempts) | Q(id__gt=self.newest_attempt))
        attempts = list(attempts.order_by("started_at", "id"))
        for a in attempts:
            self.newest_attempt = max(self.newest_attempt, a.id)
            if a.finished_at is None:
                self.open_attempts.add(a.id)
            else:
                self.open_attempts.discard(a.id)
        if events:
            self.last_id = max(self.last_id, events[-1].id)
        # Read last: a worker may commit between these reads, and a saga older than the
        # last event id sent would stay on the page, the hint for that event being taken
        # as seen. A saga newer than its events is caught up by the next hint.
        saga = SagaInstance.objects.get(id=self.saga_id)
        return {
            # Frames are always masked: a reveal is one audited page load (services/reveal.py).
            "saga": serializers.state(saga),
            "attempts": payloads.attempts(
                attempts, saga.saga_type, tracebacks=payloads.sees_tracebacks(self.scope["user"])
            ),
            "events": [serializers.event(e) for e in events],
            "behind": behind,
            "last_event_id": max(self.last_id, after),
            "server_time": serializers.iso(timezone.now()),
        }
