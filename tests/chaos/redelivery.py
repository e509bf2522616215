"""Every message delivered twice, the copy late and out of order: a relay and a database
transport that wrap the production ones through their hooks.

At-least-once delivery allows exactly this, so the system must absorb it: participants
through their inbox, the orchestrator by ignoring replies that match no waiting attempt.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from django.db import transaction

from sagas.demo.faults import Faults, FaultyDatabaseTransport
from sagas.messaging.relay import Relay, Result
from sagas.models import OutboxMessage
from sagas.participant import Participant

T = TypeVar("T")


class Redelivery:
    """Holds back a copy of what was delivered, to deliver it again in a later batch, after
    newer messages (so duplicates also arrive out of order)."""

    def __init__(self) -> None:
        self._held: list = []

    def arrange(self, batch: Sequence[T]) -> list[T]:
        """The batch to deliver now, shuffled."""
        items = list(batch)
        random.shuffle(items)
        return items

    def hold(self, item: object) -> None:
        self._held.append(item)

    def release(self) -> list:
        """Copies held back from earlier batches, to deliver again now."""
        held, self._held = self._held, []
        return self.arrange(held)


class RedeliveringRelay(Relay):
    """The relay, publishing each claim shuffled and every delivered command again in a
    later tick; a copy's answer is queued like any reply, and never marks its row."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redelivery = Redelivery()
        self._copies: dict[Future[Result], OutboxMessage] = {}

    def tick(self) -> int:
        for copy in self._redelivery.release():
            self._copies[self._pool.submit(self._publish, copy)] = copy
        published = super().tick()
        for future in [f for f in self._copies if f.done()]:
            copy = self._copies.pop(future)
            reply, error = future.result()
            if reply is not None and error is None:  # its reply may still be news
                self._accept(copy, reply)
        return published

    def arrange(self, messages: list[OutboxMessage]) -> list[OutboxMessage]:
        return self._redelivery.arrange(messages)

    def delivered(self, message: OutboxMessage) -> None:
        self._redelivery.hold(message)


class RedeliveringTransport(FaultyDatabaseTransport):
    """The demo's database transport (with a participant's faults, if given), handling
    each batch shuffled and every command again with a later batch."""

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults or Faults())
        self._redelivery: dict[str, Redelivery] = {}

    def arrange(self, participant: Participant, envelopes: list[dict]) -> list[dict]:
        redelivery = self._redelivery.setdefault(participant.name, Redelivery())
        copies = redelivery.release()
        batch = redelivery.arrange(envelopes)
        # Only a batch that committed was delivered: one rolled back (PostgreSQL restarting)
        # left its rows pending, where a worker may take them back as undelivered, so a
        # copy of it would be a delivery no real transport could make.
        transaction.on_commit(lambda: [redelivery.hold(envelope) for envelope in batch])
        return batch + copies
