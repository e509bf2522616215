"""The database transport: the outbox table is the queue; no broker needed.

Participants claim their pending commands with `FOR UPDATE SKIP LOCKED`, handle each one,
and in the same transaction queue the reply and mark the command sent. A participant that
dies mid-batch rolls back: its commands are pending again, and the inbox makes the retry
harmless. A command that cannot be handled at all (a row this process cannot even read)
is found and dead-lettered with the error as its reason: it never stops the queue, and
never restarts the participant in a loop.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, close_old_connections, connections, transaction

from sagas.engine.wakeup import COMMANDS, Waiter, notify_due
from sagas.messaging import outbox
from sagas.messaging.chaos import Redelivery
from sagas.models import OutboxMessage

from .base import Transport

if TYPE_CHECKING:
    from sagas.participant import Participant

log = logging.getLogger(__name__)


class DatabaseTransport(Transport):
    name = "database"

    def __init__(self) -> None:
        self._chaos: dict[str, Redelivery] = {}

    def publish(self, message: OutboxMessage) -> dict[str, Any] | None:
        return None  # committed in the outbox is delivered: the participant claims it there

    def serve(self, participant: Participant, stop: threading.Event, **options: Any) -> None:
        batch = int(options.get("batch", 10))
        poll = float(options.get("poll", 1.0))
        waiter = Waiter(COMMANDS)
        try:
            while not stop.is_set():
                try:
                    if participant.faults.down() or self._step(participant, batch) == 0:
                        waiter.wait(poll)
                except DatabaseError as exc:
                    log.warning("%s: database error, retrying: %s", participant.name, exc)
                    connections.close_all()
                    stop.wait(1.0)
        finally:
            waiter.close()
            close_old_connections()

    def _step(self, participant: Participant, batch: int) -> int:
        try:
            return self.receive(participant, batch)
        except DatabaseError:
            raise
        except Exception:
            log.exception("%s: a batch of commands failed; isolating them", participant.name)
            # One at a time, as many as the batch held: the bad one is buried, the rest served.
            return sum(1 for _ in range(batch) if self.isolate(participant))

    def receive(self, participant: Participant, limit: int = 10) -> int:
        """Handle up to `limit` pending commands in one transaction; returns how many."""
        if participant.faults.active:
            if not self._pending(participant):
                return 0
            participant.faults.delay()  # a slow service, without holding any lock
        with transaction.atomic():
            claimed = outbox.claim(OutboxMessage.Kind.COMMAND, [participant.name], limit)
            self._deliver(participant, claimed)
        return len(claimed)

    def isolate(self, participant: Participant) -> bool:
        """Handle the oldest pending command alone; dead-letter it, with the error as the
        reason, if even that fails (not for database errors: those are transient). False
        when there was none."""
        with transaction.atomic():
            # Only the id: a row whose JSON this process cannot decode must still be claimed.
            head = outbox.claim(OutboxMessage.Kind.COMMAND, [participant.name], 1, ("id",))
            if not head:
                return False
            try:
                with transaction.atomic():
                    self._deliver(participant, [OutboxMessage.objects.get(id=head[0].id)])
            except DatabaseError:
                raise
            except Exception as exc:
                reason = f"{participant.name} could not handle it: {type(exc).__name__}: {exc}"
                log.error("%s: dead-lettering command %s: %s", participant.name, head[0].id, reason)
                outbox.bury(head, reason)
        return True

    def _deliver(self, participant: Participant, claimed: list[OutboxMessage]) -> None:
        chaos = self._chaos.setdefault(participant.name, Redelivery())
        messages, _ = outbox.split_expired(claimed)
        envelopes = [{"headers": m.headers, "body": m.body} for m in messages]
        copies = chaos.release()  # chaos tests only: earlier commands, delivered again
        for envelope in chaos.arrange(envelopes):
            self._answer(participant, envelope)
            chaos.hold(envelope)
        for envelope in copies:
            self._answer(participant, envelope)
        outbox.mark_sent(messages)
        if messages:
            notify_due()

    def _answer(self, participant: Participant, envelope: dict) -> None:
        reply = participant.handle(envelope)
        # Injected slowness: this one reply travels late, past its step's timeout.
        late = participant.faults.slow_seconds if participant.faults.slow() else 0.0
        outbox.enqueue_reply(reply, participant.name, delay=late)

    def _pending(self, participant: Participant) -> bool:
        return OutboxMessage.objects.filter(
            status=OutboxMessage.Status.PENDING,
            kind=OutboxMessage.Kind.COMMAND,
            destination=participant.name,
        ).exists()
