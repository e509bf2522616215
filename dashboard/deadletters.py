"""The dead letters: messages set aside for good, newest first, a page at a time (keyset on
id, served by the partial index outbox_dead_id_idx), each with its reason and its saga."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from sagas.models import OutboxMessage, SagaInstance
from sagas.services.queries import InvalidQuery

PAGE = 50
DEAD = OutboxMessage.Status.DEAD

# What a dead letter is and what to do about it, said once: the outbox page and this one.
WHAT = (
    "A dead letter is a message set aside for good, never sent or applied again: a command "
    "whose attempt timed out first (the saga's retry sends a new one, with the same "
    "idempotency key), or an answer from a participant that was malformed, misaddressed or "
    "could not be applied. Nothing re-sends it."
)
TODO = (
    "What to do: read the reason; fix its cause (the participant, its replies, its URL or "
    "secret); then open the saga: if it is failed or stuck, repair it there (retry or resume "
    "sends a new command). A dead letter whose saga completed needs nothing."
)


@dataclass(frozen=True)
class Page:
    letters: list[dict[str, Any]]
    next_before: int | None  # the `before` of the next (older) page; None on the last one
    total: int
    by_destination: list[dict[str, Any]]


def page(destination: str = "", before: str = "") -> Page:
    """One page of dead letters, newest first, optionally to one destination, older than
    message id `before`; InvalidQuery (naming the parameter) for a `before` that is not
    an id."""
    dead = OutboxMessage.objects.filter(status=DEAD)
    by_destination = [
        {"destination": d, "dead": n}
        for d, n in dead.order_by()
        .values_list("destination")
        .annotate(n=Count("*"))
        .order_by("-n", "destination")
    ]
    if destination:
        dead = dead.filter(destination=destination)
    total = sum(row["dead"] for row in by_destination if destination in ("", row["destination"]))
    if before:
        dead = dead.filter(id__lt=_message_id(before))
    rows = list(dead.order_by("-id")[: PAGE + 1])
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return Page(
        letters=describe(rows),
        next_before=rows[-1].id if more else None,
        total=total,
        by_destination=by_destination,
    )


def _message_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value < 2**63:  # past a bigint PostgreSQL would refuse the query: a 500
        raise InvalidQuery(f"before must be a message id, not {text[:30]!r}", "before")
    return value


def describe(messages: list[OutboxMessage]) -> list[dict[str, Any]]:
    """Each dead letter as the pages show it: its saga (a command's own; a reply's from the
    saga id its headers name, if that saga exists) and the attempt it was about."""
    named = {m.id: saga_named(m) for m in messages}
    existing = {
        str(i)
        for i in SagaInstance.objects.filter(
            id__in={s for s in named.values() if s is not None}
        ).values_list("id", flat=True)
    }
    letters = []
    for m in messages:
        headers = m.headers if isinstance(m.headers, dict) else {}
        saga = named[m.id]
        letters.append(
            {
                "id": m.id,
                "message_id": str(m.message_id),
                "kind": m.kind,
                "sender": m.sender or "orchestrator",
                "destination": m.destination,
                "saga": saga if saga in existing else None,
                "saga_named": saga,
                "step": _text(headers.get("step")),
                "phase": _text(headers.get("phase")),
                "attempt": _text(headers.get("attempt")),
                "created_at": m.created_at,
                "dead_at": m.sent_at or m.created_at,
                "attempts": m.attempts,
                "reason": m.last_error,
                "headers": headers,
                "headers_text": json.dumps(headers, indent=2, sort_keys=True, default=str),
            }
        )
    return letters


def saga_named(message: OutboxMessage) -> str | None:
    """The saga a message is about: a command's own row, or the saga id a reply's headers
    name (replies are queued before anyone knows whether that saga exists)."""
    if message.saga_id is not None:
        return str(message.saga_id)
    headers = message.headers if isinstance(message.headers, dict) else {}
    try:
        return str(uuid.UUID(str(headers.get("saga_id"))))
    except ValueError:
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:100]
