"""The relay: publishes pending commands for participants reached over HTTP.

It claims pending commands in order per saga and destination (SKIP LOCKED, so several
relays share the work) and leases them (hidden for `visibility` seconds), publishes each
one outside any transaction, then marks it sent, queueing an immediate reply for the
workers in that same transaction. A destination that fails is backed off and skipped for
the rest of the round. A relay killed between the claim and the mark loses nothing: the
rows are still pending and go out again when the lease lapses, at least once (the
participant's inbox absorbs the copy).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.db import DatabaseError, connections, transaction

from sagas.engine.wakeup import COMMANDS, Waiter
from sagas.models import OutboxMessage

from . import directory, outbox
from .chaos import Redelivery
from .transports import DeliveryError, HttpTransport

log = logging.getLogger("sagas.relay")


class Relay:
    def __init__(
        self,
        batch_size: int = 50,
        poll_interval: float = 1.0,
        visibility: float = 30.0,
        concurrency: int = 8,
    ) -> None:
        self.batch_size = batch_size
        self.visibility = visibility  # a claimed message stays hidden this long
        self.poll_interval = poll_interval
        self.transport = HttpTransport()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="relay")
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._chaos = Redelivery()

    def tick(self) -> int:
        """Publish one batch; returns how many messages went out."""
        destinations = directory.http_participants()
        if not destinations:
            return 0
        # Claim and lease in one short transaction; publish outside any transaction, so no
        # lock is held across the network (SQLite would stall every other writer).
        with transaction.atomic():
            claimed = outbox.claim(OutboxMessage.Kind.COMMAND, destinations, self.batch_size)
            messages, _ = outbox.split_expired(claimed)
            outbox.lease(messages, self.visibility)
        down: set[str] = set()
        published = 0
        # Messages of one batch belong to different (saga, destination) pairs (the claim
        # gives only the oldest of each), so they can go out concurrently; each is marked
        # sent (and its reply queued) as soon as its own publish returns.
        again = self._chaos.release()  # chaos tests only: copies of earlier messages
        for reply, _ in self._pool.map(self._publish, again):
            if reply is not None:
                outbox.enqueue_reply(reply)
        futures = {self._pool.submit(self._publish, m): m for m in self._chaos.arrange(messages)}
        for future in as_completed(futures):
            message, (reply, error) = futures[future], future.result()
            if error is not None:
                if message.destination not in down:
                    log.warning("relay: %s", error)
                down.add(message.destination)
                outbox.postpone(message, error)
                self.failed += 1
                continue
            with transaction.atomic():
                if reply is not None:
                    outbox.enqueue_reply(reply)
                outbox.mark_sent([message])
            self._chaos.hold(message)
            published += 1
        self.sent += published
        return published

    def _publish(self, message: OutboxMessage) -> tuple[dict | None, str | None]:
        try:
            return self.transport.publish(message), None
        except DeliveryError as exc:
            return None, str(exc)

    def run(self) -> None:
        log.info("relay started for %s", ", ".join(directory.http_participants()) or "nobody")
        waiter = Waiter(COMMANDS)
        try:
            while not self._stop.is_set():
                try:
                    if self.tick() == 0:
                        waiter.wait(self.poll_interval)
                except DatabaseError as exc:
                    log.warning("relay: database error, retrying: %s", exc)
                    connections.close_all()
                    self._stop.wait(1.0)
        finally:
            waiter.close()
            self._pool.shutdown(wait=True)
            connections.close_all()
            log.info("relay stopped: %d sent, %d delivery failures", self.sent, self.failed)

    def stop(self) -> None:
        self._stop.set()
