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

from django.db import DatabaseError, connections, transaction

from sagas.engine.wakeup import COMMANDS, REPLY, Waiter, notify_due
from sagas.messaging import outbox
from sagas.models import OutboxMessage

if TYPE_CHECKING:
    from sagas.participant import Participant

log = logging.getLogger(__name__)


class DatabaseTransport:
    """Serves a participant from the outbox: a command committed there is delivered."""

    def serve(self, participant: Participant, stop: threading.Event, **options: Any) -> None:
        batch = int(options.get("batch", 10))
        poll = float(options.get("poll", 1.0))
        waiter = Waiter(COMMANDS)
        try:
            while not stop.is_set():
                try:
                    if self._step(participant, batch) == 0:
                        waiter.wait_for(participant.name, poll)
                except DatabaseError as exc:
                    log.warning("%s: database error, retrying: %s", participant.name, exc)
                    connections.close_all()
                    stop.wait(1.0)
        finally:
            waiter.close()
            connections.close_all()  # this thread is done with them

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
        messages, _ = outbox.split_expired(claimed)
        envelopes = [{"headers": m.headers, "body": m.body} for m in messages]
        for envelope in self.arrange(participant, envelopes):
            reply = participant.handle(envelope)
            delay = self.reply_delay(participant, envelope)
            outbox.enqueue_reply(reply, participant.name, delay=delay)
        outbox.mark_sent(messages)
        if messages:
            notify_due(REPLY)

    def arrange(self, participant: Participant, envelopes: list[dict]) -> list[dict]:
        """The commands to handle now, in order: those claimed, as claimed. A subclass
        may reorder them, or add others."""
        return envelopes

    def reply_delay(self, participant: Participant, envelope: dict) -> float:
        """Seconds before the reply to `envelope` is due at the orchestrator: none. A
        subclass may hold replies back."""
        return 0.0
