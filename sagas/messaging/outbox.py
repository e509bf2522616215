"""The transactional outbox as a queue: claiming pending messages in order, marking them.

Claims take rows with `FOR UPDATE SKIP LOCKED` (ignored by SQLite, which serialises
writers) by status, never by "id greater than the last one seen": ids commit out of order.
Order is kept per saga and destination: a message is claimable only once every older
pending message of its saga to the same destination has been sent, except an expired one
with the same idempotency key, which it supersedes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from sagas.engine.commands import ORCHESTRATOR
from sagas.engine.sql import columns, hot_cursor, insert_many, load_rows, pipelined
from sagas.engine.wakeup import REPLY, notify_due
from sagas.models import OutboxMessage

PENDING = OutboxMessage.Status.PENDING
EXPIRED = "expired: its attempt timed out before delivery; a retry supersedes it"
# A relay leased it, so it may have gone out before the relay died or lost its database.
EXPIRED_AFTER_PUBLISH = "expired: its attempt timed out; a relay may have delivered it first"
WITHDRAWN = "withdrawn: its attempt timed out before it was delivered"


def claim(
    kind: str,
    destinations: Iterable[str] | None,
    limit: int,
    fields: tuple[str, ...] | None = None,
) -> list[OutboxMessage]:
    """Lock up to `limit` deliverable messages (loading only `fields`, if given); call
    inside the transaction that handles them, so a crash before commit leaves them pending
    (at least once)."""
    assert transaction.get_connection().in_atomic_block, "claim inside a transaction"
    if connection.vendor == "postgresql" and not fields:
        return _claim_postgres(kind, destinations, limit)
    if kind == OutboxMessage.Kind.COMMAND:
        bury_expired(destinations)  # else an expired one would hold up newer ones
    older = OutboxMessage.objects.filter(
        status=PENDING,
        saga_id=OuterRef("saga_id"),
        destination=OuterRef("destination"),
        id__lt=OuterRef("id"),
    ).exclude(
        # A retry supersedes its own expired predecessor (same idempotency key, deadline
        # passed), even one a dead relay still leases: it need not wait for that lease.
        Q(deadline__lt=Now()) & Q(headers__idempotency_key=OuterRef("headers__idempotency_key"))
    )
    qs = OutboxMessage.objects.filter(status=PENDING, kind=kind, available_at__lte=Now()).filter(
        _not_leased()
    )
    if destinations is not None:
        qs = qs.filter(destination__in=list(destinations))
    qs = qs.exclude(Exists(older)).order_by("id")
    if fields:
        qs = qs.only(*fields)
    return list(qs.select_for_update(skip_locked=True, of=("self",))[:limit])


# The same two statements as the ORM's above, written out for PostgreSQL: every claim of
# every participant, relay and worker runs them, so they are prepared once and sent
# together, where building them through the ORM cost more than running them.
_BURY_EXPIRED_POSTGRES = """
UPDATE sagas_outboxmessage
   SET status = 'dead', sent_at = STATEMENT_TIMESTAMP(),
       last_error = CASE WHEN leased_until IS NULL THEN %s ELSE %s END
 WHERE id IN (
       SELECT id FROM sagas_outboxmessage
        WHERE (leased_until IS NULL OR leased_until <= STATEMENT_TIMESTAMP())
          AND deadline < STATEMENT_TIMESTAMP() AND kind = 'command' AND status = 'pending'
          AND ({anywhere} OR destination = ANY(%s))
        ORDER BY id
          FOR UPDATE SKIP LOCKED)
"""

_CLAIM_POSTGRES = """
SELECT {columns} FROM sagas_outboxmessage m
 WHERE m.available_at <= STATEMENT_TIMESTAMP() AND m.kind = %s AND m.status = 'pending'
   AND (m.leased_until IS NULL OR m.leased_until <= STATEMENT_TIMESTAMP())
   AND ({anywhere} OR m.destination = ANY(%s))
   AND NOT EXISTS (
       SELECT 1 FROM sagas_outboxmessage o
        WHERE o.destination = m.destination AND o.id < m.id AND o.saga_id = m.saga_id
          AND o.status = 'pending'
          AND NOT (o.deadline < STATEMENT_TIMESTAMP() AND o.deadline IS NOT NULL
                   AND (o.headers -> 'idempotency_key') = (m.headers -> 'idempotency_key')))
 ORDER BY m.id
 LIMIT %s
   FOR UPDATE OF m SKIP LOCKED
"""


def _claim_postgres(
    kind: str, destinations: Iterable[str] | None, limit: int
) -> list[OutboxMessage]:
    anywhere = "TRUE" if destinations is None else "FALSE"
    names = [] if destinations is None else list(destinations)
    with pipelined(OutboxMessage), hot_cursor(connection) as cursor:
        if kind == OutboxMessage.Kind.COMMAND:
            cursor.execute(
                _BURY_EXPIRED_POSTGRES.format(anywhere=anywhere),
                [EXPIRED, EXPIRED_AFTER_PUBLISH, names],
            )
        cursor.execute(
            _CLAIM_POSTGRES.format(columns=columns(OutboxMessage, "m"), anywhere=anywhere),
            [kind, names, limit],
        )
        return load_rows(OutboxMessage, cursor)


def mark_sent(messages: Iterable[OutboxMessage], note: str = "") -> None:
    """Mark the still-pending ones sent (`note`, if given, says how it went)."""
    ids = [m.id for m in messages]
    if ids:
        extra = {"last_error": note[:2000]} if note else {}
        OutboxMessage.objects.filter(id__in=ids, status=PENDING).update(
            status=OutboxMessage.Status.SENT, sent_at=timezone.now(), leased_until=None, **extra
        )


def bury(messages: Iterable[OutboxMessage], reason: str) -> None:
    """Dead-letter messages that must not be delivered (kept, with the reason)."""
    ids = [m.id for m in messages]
    if ids:
        OutboxMessage.objects.filter(id__in=ids).update(
            status=OutboxMessage.Status.DEAD, last_error=reason[:2000], sent_at=timezone.now()
        )


def split_expired(
    messages: list[OutboxMessage],
) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    """(live, expired) commands; expired ones are buried as such."""
    now = timezone.now()
    stale = [m for m in messages if m.deadline is not None and m.deadline < now]
    bury([m for m in stale if m.leased_until is None], EXPIRED)
    bury([m for m in stale if m.leased_until is not None], EXPIRED_AFTER_PUBLISH)
    return [m for m in messages if m not in stale], stale


def bury_expired(destinations: Iterable[str] | None = None) -> int:
    """Dead-letter every pending command whose attempt has timed out: a retry (with the
    same idempotency key) supersedes it, and delivering it late would be wasted work."""
    qs = OutboxMessage.objects.filter(
        _not_leased(), status=PENDING, kind=OutboxMessage.Kind.COMMAND, deadline__lt=Now()
    )
    if destinations is not None:
        qs = qs.filter(destination__in=list(destinations))
    buried = 0
    for published, reason in ((False, EXPIRED), (True, EXPIRED_AFTER_PUBLISH)):
        buried += _unlocked(qs.filter(leased_until__isnull=not published)).update(
            status=OutboxMessage.Status.DEAD, last_error=reason, sent_at=Now()
        )
    return buried


def withdraw(message_id: Any) -> bool:
    """Take an undelivered command back; True if it had not reached its participant.

    Atomic against delivery: a relay leases a message before publishing it, and a database
    participant handles it under a row lock and marks it sent in that transaction, so a
    message still pending and never leased has provably not been delivered. A lapsed lease
    is not enough: the relay may have published it, then died or lost its database before
    marking it. (One the relay failed to deliver and postponed, or gave back unpublished,
    has no lease: withdrawable; and one a claimer buried as expired before any relay leased
    it counts as withdrawn.)"""
    if message_id is None:
        return False
    never_leased = Q(leased_until__isnull=True)
    if OutboxMessage.objects.filter(never_leased, message_id=message_id, status=PENDING).update(
        status=OutboxMessage.Status.DEAD, last_error=WITHDRAWN, sent_at=Now()
    ):
        return True
    # A claimer may have buried it first, as expired: undelivered all the same.
    return OutboxMessage.objects.filter(
        message_id=message_id, status=OutboxMessage.Status.DEAD, last_error__in=[EXPIRED, WITHDRAWN]
    ).exists()


def lease(messages: Iterable[OutboxMessage], seconds: float) -> None:
    """Hide claimed messages from other claimers while they are being published."""
    ids = [m.id for m in messages]
    if ids:
        until = timezone.now() + timedelta(seconds=seconds)
        with transaction.atomic():  # the relay's heartbeat calls it outside its claim
            _unlocked(OutboxMessage.objects.filter(id__in=ids)).update(leased_until=until)


def _unlocked(qs: Any) -> Any:
    """The rows of `qs` no other transaction holds: a bulk UPDATE that waited on rows
    locked in another order (a worker withdrawing several commands) could deadlock. A
    row skipped now is updated by the next call."""
    return OutboxMessage.objects.filter(
        id__in=qs.order_by("id").select_for_update(skip_locked=True).values("id")
    )


def release(message: OutboxMessage) -> None:
    """Give a leased message back at once, unpublished."""
    OutboxMessage.objects.filter(id=message.id).update(leased_until=None)


def postpone(message: OutboxMessage, error: str, base: float = 0.5, cap: float = 30.0) -> None:
    """The destination is down: try again later, with exponential backoff."""
    message.attempts += 1
    delay = min(cap, base * 2 ** (message.attempts - 1))
    message.available_at = timezone.now() + timedelta(seconds=delay)
    message.leased_until = None
    message.last_error = error[:2000]
    message.save(update_fields=["attempts", "available_at", "leased_until", "last_error"])


def _not_leased() -> Q:
    return Q(leased_until__isnull=True) | Q(leased_until__lte=Now())


def enqueue_reply(envelope: dict, sender: str, delay: float = 0.0) -> bool:
    """Queue a reply from participant `sender` for the orchestrator (due after `delay`
    seconds); False if this reply message was seen before. The workers check it against
    the reply schema when they take it."""
    headers, body = envelope["headers"], envelope["body"]
    now = timezone.now()
    reply = OutboxMessage(
        message_id=headers["message_id"],
        saga_id=None,
        kind=OutboxMessage.Kind.REPLY,
        destination=ORCHESTRATOR,
        sender=sender,
        headers=headers,
        body=body,
        available_at=now + timedelta(seconds=delay),
        created_at=now,
    )
    # A reply seen before conflicts on its message id: skipped by the insert itself, where
    # catching the error would cost a savepoint on every reply.
    if not insert_many(OutboxMessage, [reply], unless_exists="message_id"):
        return False
    notify_due(REPLY)
    return True


def dead_reply(raw: object, sender: str, reason: str) -> None:
    """Keep an answer that is not a reply at all, dead-lettered with the reason, so the
    outbox page shows it; what it said is kept as bounded, storable text."""
    text = str(raw).replace("\x00", "\\u0000").encode("utf-8", "replace").decode("utf-8")
    now = timezone.now()
    OutboxMessage.objects.create(
        kind=OutboxMessage.Kind.REPLY,
        destination=ORCHESTRATOR,
        sender=sender,
        body={"unreadable": text[:2000]},
        status=OutboxMessage.Status.DEAD,
        last_error=reason[:2000],
        available_at=now,
        created_at=now,
        sent_at=now,
    )


def pending_replies_exist() -> bool:
    return OutboxMessage.objects.filter(status=PENDING, kind=OutboxMessage.Kind.REPLY).exists()
