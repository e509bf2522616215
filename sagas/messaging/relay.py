"""The relay: publishes pending commands for participants reached over HTTP.

It claims pending commands in order per saga and destination (SKIP LOCKED, so several
relays share the work) and leases them (hidden for `visibility` seconds), publishes each
one outside any transaction, then marks it sent, queueing an immediate reply for the
workers in that same transaction. Publishes run concurrently and outlive the tick that
started them, so a slow participant delays its own messages, not everyone's; a destination
that fails is backed off. A relay killed between the claim and the mark loses nothing: the
rows are still pending and go out again when the lease lapses, at least once (the
participant's inbox absorbs the copy).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

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
        concurrency: int = 16,
        patience: float = 1.0,
    ) -> None:
        self.batch_size = batch_size
        self.visibility = visibility  # a claimed message stays hidden this long
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.patience = patience  # how long one tick waits for the publishes in flight
        self.transport = HttpTransport()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="relay")
        # Publishes still running, carried from tick to tick: one slow participant holds
        # its own messages only, never the next batch for everybody else.
        self._in_flight: dict[Future, OutboxMessage | None] = {}
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._chaos = Redelivery()

    def tick(self) -> int:
        """Claim what fits beside the publishes in flight, start them, and settle those that
        finish within `patience`; returns how many messages went out."""
        destinations = directory.http_participants()
        if not destinations:
            return 0
        # Up to a batch in flight, `concurrency` of them on the wire at once: claims stay
        # large under a backlog, and a slow publish holds one thread, not the batch.
        room = self.batch_size - len(self._in_flight)
        # Claim and lease in one short transaction; publish outside any transaction, so no
        # lock is held across the network (SQLite would stall every other writer).
        with transaction.atomic():
            # Still publishing: keep them hidden, or another claim would send them again.
            outbox.lease([m for m in self._in_flight.values() if m is not None], self.visibility)
            messages: list[OutboxMessage] = []
            if room > 0:
                claimed = outbox.claim(OutboxMessage.Kind.COMMAND, destinations, room)
                messages, _ = outbox.split_expired(claimed)
                outbox.lease(messages, self.visibility)
        # Messages of one claim belong to different (saga, destination) pairs (the claim
        # gives only the oldest of each), so they can go out concurrently; each is marked
        # sent (and its reply queued) as soon as its own publish returns.
        for copy in self._chaos.release():  # chaos tests only: copies of earlier messages
            self._in_flight[self._pool.submit(self._publish, copy)] = None
        for message in self._chaos.arrange(messages):
            self._in_flight[self._pool.submit(self._publish, message)] = message
        return self._settle(self.patience)

    def _settle(self, timeout: float | None) -> int:
        """Record each publish as it returns (its mark overlaps the others' network time);
        those still running after `timeout` stay in flight for a later tick."""
        down: set[str] = set()
        published = 0
        try:
            for future in as_completed(list(self._in_flight), timeout=timeout):
                published += self._record(future, down)
        except TimeoutError:
            pass
        self.sent += published
        return published

    def _record(self, future: Future, down: set[str]) -> int:
        message = self._in_flight.pop(future)
        reply, error = future.result()
        if message is None:  # a chaos copy: its reply may still be news
            if reply is not None:
                outbox.enqueue_reply(reply)
            return 0
        if error is not None:
            if message.destination not in down:
                log.warning("relay: %s", error)
            down.add(message.destination)
            outbox.postpone(message, error)
            self.failed += 1
            return 0
        with transaction.atomic():
            if reply is not None:
                outbox.enqueue_reply(reply)
            outbox.mark_sent([message])
        self._chaos.hold(message)
        return 1

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
            try:
                self._settle(None)  # what was published is marked sent before we go
            except DatabaseError as exc:
                log.warning("relay: could not record the last publishes: %s", exc)
            self._pool.shutdown(wait=True)
            connections.close_all()
            log.info("relay stopped: %d sent, %d delivery failures", self.sent, self.failed)

    def stop(self) -> None:
        self._stop.set()
