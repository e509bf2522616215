"""The relay: publishes pending commands for participants reached over HTTP.

It claims pending commands in order per saga and destination (SKIP LOCKED, so several
relays share the work) and leases them (hidden for `visibility` seconds, renewed by a
heartbeat while the publish runs), publishes each one outside any transaction, then marks
it sent, queueing the participant's immediate reply, checked against the reply schema, in
that same transaction. Publishes run concurrently and outlive the tick that started them,
so a slow participant delays its own messages, not everyone's. A destination that keeps
failing gets its circuit opened (circuits.py): nothing is sent to it but one probe per
cool-down. A relay killed between the claim and the mark loses nothing: the rows are
still pending and go out again when the short lease lapses, at least once (the
participant's inbox absorbs the copy).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from django.db import DatabaseError, connections, transaction

from sagas import conf
from sagas.engine.heartbeats import Pulse
from sagas.engine.wakeup import COMMANDS, Waiter
from sagas.models import OutboxMessage

from . import circuits, directory, outbox, schema
from .envelope import MATCH_HEADERS, MalformedMessage
from .transports import DeliveryError, HttpTransport

log = logging.getLogger("sagas.relay")

Result = tuple[Any, DeliveryError | None]


class Relay:
    def __init__(
        self,
        batch_size: int = 50,
        poll_interval: float = 1.0,
        visibility: float | None = None,
        concurrency: int = 16,
        patience: float = 1.0,
    ) -> None:
        self.batch_size = batch_size
        # A claimed message stays hidden this long, renewed while it is being published.
        self.visibility = visibility if visibility is not None else conf.relay_visibility()
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.patience = patience  # how long one tick waits for the publishes in flight
        self.transport = HttpTransport()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="relay")
        # Publishes still running, carried from tick to tick: one slow participant holds
        # its own messages only, never the next batch for everybody else.
        self._in_flight: dict[Future[Result], OutboxMessage] = {}
        self._lock = threading.Lock()
        self._circuits: dict[str, Any] = {}
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        # The process's row on the Workers page, red when silent for its lease time.
        self._pulse = Pulse("relay", None, max(self.visibility, 2.0))

    def tick(self) -> int:
        """Claim what fits beside the publishes in flight, start them, and settle those that
        finish within `patience`; returns how many messages went out."""
        destinations = directory.http_participants()
        if not destinations:
            return 0
        # Up to a batch in flight, `concurrency` of them on the wire at once: claims stay
        # large under a backlog, and a slow publish holds one thread, not the batch.
        room = self.batch_size - len(self._in_flight)
        messages: list[OutboxMessage] = []
        if room > 0:
            self._circuits = circuits.all_by_destination()
            free = circuits.closed(destinations, self._circuits)
            probes = [d for d in destinations if d not in free and circuits.take_probe(d)]
            # Claim and lease in one short transaction; publish outside any transaction,
            # so no lock is held across the network (SQLite would stall every writer).
            with transaction.atomic():
                claimed = outbox.claim(OutboxMessage.Kind.COMMAND, free, room) if free else []
                for destination in probes:  # one message each, to see if it answers again
                    claimed += outbox.claim(OutboxMessage.Kind.COMMAND, [destination], 1)
                messages, _ = outbox.split_expired(claimed)
                outbox.lease(messages, self.visibility)
        # Messages of one claim belong to different (saga, destination) pairs (the claim
        # gives only the oldest of each), so they can go out concurrently; each is marked
        # sent (and its reply queued) as soon as its own publish returns.
        with self._lock:
            for message in self.arrange(messages):
                self._in_flight[self._pool.submit(self._publish, message)] = message
        return self._settle(self.patience)

    def arrange(self, messages: list[OutboxMessage]) -> list[OutboxMessage]:
        """The order in which a claim goes out: as claimed. A subclass may reorder it."""
        return messages

    def delivered(self, message: OutboxMessage) -> None:
        """Called once `message` is marked sent: nothing to do. A subclass may act here."""

    def _settle(self, timeout: float | None) -> int:
        """Record the publishes as they return, those that returned together in one
        transaction (their marks overlap the others' network time); those still running
        after `timeout` stay in flight for a later tick."""
        down: set[str] = set()
        published = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._in_flight:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = wait(list(self._in_flight), timeout=left, return_when=FIRST_COMPLETED)
            if not done:
                break
            published += self._record(done, down)
        self.sent += published
        return published

    def _record(self, done: set[Future[Result]], down: set[str]) -> int:
        answered: list[tuple[OutboxMessage, Any]] = []
        for future in done:
            with self._lock:
                message = self._in_flight.pop(future)
            reply, error = future.result()
            if error is None:
                circuits.record_success(message.destination, self._circuits)
                answered.append((message, reply))
                continue
            if message.destination not in down:
                log.warning("relay: %s", error)
            down.add(message.destination)
            circuits.record_failure(message.destination, str(error))
            self.failed += 1
            if error.maybe_delivered:
                # The participant may have taken it: never offer it again as undelivered
                # (its attempt's timeout must then count it as possibly done).
                outbox.mark_sent([message], note=f"no answer, may have been delivered: {error}")
            else:
                outbox.postpone(message, str(error))
        if not answered:
            return 0
        # One transaction for every answer that came back together: under a backlog the
        # marks cost a commit per batch, not per message.
        with transaction.atomic():
            for message, reply in answered:
                if reply is not None:
                    self._accept(message, reply)
            outbox.mark_sent([message for message, _ in answered])
        for message, _ in answered:
            self.delivered(message)
        return len(answered)

    def _accept(self, message: OutboxMessage, reply: Any) -> None:
        """Queue a synchronous answer as a reply, or dead-letter it with the reason."""
        problem = answer_problem(message, reply)
        if problem:
            log.warning(
                "relay: %s's answer to %s refused: %s", message.destination, message.id, problem
            )
            who, command = message.destination, message.message_id
            outbox.dead_reply(reply, who, f"{who}'s answer to command {command} refused: {problem}")
            return
        outbox.enqueue_reply(reply, sender=message.destination)

    def _publish(self, message: OutboxMessage) -> Result:
        try:
            return self.transport.publish(message), None
        except DeliveryError as exc:
            return None, exc
        except Exception as exc:  # a bug must cost this message a retry, not the relay
            log.exception("relay: publishing %s failed unexpectedly", message.id)
            return None, DeliveryError(f"{type(exc).__name__}: {exc}", maybe_delivered=True)

    def _beat(self) -> None:
        """Renew the leases of the messages being published, so none lapses mid-publish
        however long a tick takes; a dead relay's leases lapse within `visibility`."""
        while not self._stop.wait(self.visibility / 4):
            with self._lock:
                publishing = list(self._in_flight.values())
            try:
                outbox.lease(publishing, self.visibility)
            except Exception as exc:
                log.warning("relay: lease heartbeat failed: %s", exc)
                connections.close_all()
            self._pulse_beat()
        connections.close_all()

    def _pulse_beat(self) -> None:
        if self._stop.is_set() or not self._pulse.due():
            return
        try:
            self._pulse.beat(len(self._in_flight), self.sent)
        except Exception as exc:  # the page shows it red; the leases matter more
            log.warning("relay: process heartbeat failed: %s", exc)

    def run(self) -> None:
        log.info("relay started for %s", ", ".join(directory.http_participants()) or "nobody")
        waiter = Waiter(COMMANDS)
        heartbeat = threading.Thread(target=self._beat, name="relay-heartbeat", daemon=True)
        self._pulse_beat()
        heartbeat.start()
        try:
            while not self._stop.is_set():
                try:
                    if self.tick() == 0:
                        waiter.wait(self.poll_interval)
                except DatabaseError as exc:
                    log.warning("relay: database error, retrying: %s", exc)
                    connections.close_all()
                    self._stop.wait(1.0)
                except Exception:  # a crash loop is the worst outcome: log, pause, go on
                    log.exception("relay: tick failed; carrying on")
                    self._stop.wait(1.0)
        finally:
            waiter.close()
            try:
                self._settle(None)  # what was published is marked sent before we go
            except Exception as exc:
                log.warning("relay: could not record the last publishes: %s", exc)
            self._stop.set()
            heartbeat.join(5)
            self._pulse.gone()
            self._pool.shutdown(wait=True)
            connections.close_all()
            log.info("relay stopped: %d sent, %d delivery failures", self.sent, self.failed)

    def stop(self) -> None:
        self._stop.set()


def answer_problem(command: OutboxMessage, answer: Any) -> str:
    """Why a participant's synchronous answer cannot be the reply to `command` ("" if it
    can): it must pass the reply schema and name exactly that command's attempt."""
    try:
        reply = schema.parse(answer)
    except MalformedMessage as exc:
        return str(exc)
    sent = command.headers if isinstance(command.headers, dict) else {}
    got = {
        "saga_id": str(reply.saga_id),
        "step": reply.step,
        "phase": reply.phase,
        "attempt": reply.attempt,
        "idempotency_key": reply.idempotency_key,
    }
    for name in MATCH_HEADERS:
        expected = sent.get(name)
        if name == "saga_id":
            expected = _uuid_text(expected)
        if got[name] != expected:
            return f"header {name} is {got[name]!r}, but the command's is {expected!r}"
    if reply.in_reply_to is not None and reply.in_reply_to != command.message_id:
        return f"it answers command {reply.in_reply_to}, not {command.message_id}"
    return ""


def _uuid_text(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)
