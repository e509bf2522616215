"""The outbox page's figures: messages not yet sent, per destination, and the oldest age;
the latest dead letters with their reasons; the relay's circuit per destination."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Min

from sagas.engine.leases import database_now
from sagas.messaging import circuits
from sagas.models import OutboxMessage
from sagas.serializers import iso, outbox_message

from . import deadletters

LISTED = 100
DEAD_LISTED = 20


def compute(now: datetime | None = None) -> dict[str, Any]:
    now = now or database_now()
    pending = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING).order_by()
    destinations = [
        {
            "destination": row["destination"],
            "pending": row["n"],
            "oldest_age_seconds": _age(now, row["oldest"]),
        }
        for row in pending.values("destination")
        .annotate(n=Count("id"), oldest=Min("created_at"))
        .order_by("-n", "destination")
    ]
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    dead = OutboxMessage.objects.filter(status=OutboxMessage.Status.DEAD).count()
    return {
        "generated_at": iso(now),
        "pending": sum(d["pending"] for d in destinations),
        "dead": dead,
        "oldest_age_seconds": _age(now, oldest),
        "destinations": destinations,
        # Oldest first: the ones that are stuck are what an operator came for.
        "messages": [outbox_message(m) for m in pending.order_by("created_at", "id")[:LISTED]],
        # Newest first: a poison message or a refused answer shows here with its reason.
        "dead_letters": [
            {**letter, "created_at": iso(letter["created_at"]), "dead_at": iso(letter["dead_at"])}
            for letter in deadletters.describe(
                list(
                    OutboxMessage.objects.filter(status=OutboxMessage.Status.DEAD).order_by("-id")[
                        :DEAD_LISTED
                    ]
                )
            )
        ],
        "circuits": circuits.describe_all(now),
    }


def _age(now: datetime, then: datetime | None) -> float | None:
    return round((now - then).total_seconds(), 1) if then is not None else None
