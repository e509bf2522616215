"""Reading sagas: filtered, keyset-paginated lists, shared by the API and the dashboard."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q, QuerySet

from sagas.exceptions import InvalidQuery
from sagas.models import SagaInstance
from sagas.services import saga_query
from sagas.statuses import SagaStatus
from sagas.storable import text_problem

MAX_PAGE = 200
MAX_SEARCH = 200  # characters, as long as a correlation id
# Times outside these years are refused: near year 1 or 9999 a UTC offset overflows
# Python's datetime, and PostgreSQL refuses offsets Python takes (over 15:59).
MIN_YEAR, MAX_YEAR = 1970, 2999


@dataclass(frozen=True)
class SagaFilter:
    type: str | None = None
    status: str | None = None
    correlation_id: str | None = None
    # The search box: the start of a saga id (the 8 characters the pages show will do) or
    # of a correlation id, whichever matches (see Search).
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    problem: int | None = None  # the failure group (sagas/engine/problems.py) sagas were put in
    # A query in the search language (saga_query): `input.country = "AQ" AND ...`.
    query: str | None = None

    def apply(self, qs: QuerySet[SagaInstance]) -> QuerySet[SagaInstance]:
        if self.status is not None and self.status not in SagaStatus.values:
            raise InvalidQuery(
                f"status must be one of {', '.join(SagaStatus.values)}, not {self.status!r}",
                "status",
            )
        if self.type:
            qs = qs.filter(saga_type=self.type)
        if self.status:
            qs = qs.filter(status=self.status)
        if self.correlation_id:
            qs = qs.filter(correlation_id=self.correlation_id)
        if self.problem is not None:
            qs = qs.filter(Q(problem_id=self.problem) | Q(stuck_problem_id=self.problem))
        if self.search:
            qs = qs.filter(Search.parse(self.search).q())
        if self.query:
            qs = saga_query.matching(qs, self.query)
        if self.created_after is not None:
            qs = qs.filter(created_at__gte=_utc(self.created_after, "created_after"))
        if self.created_before is not None:
            qs = qs.filter(created_at__lt=_utc(self.created_before, "created_before"))
        return qs


def in_range(moment: datetime, field: str) -> datetime:
    """`moment`, if its year is one a saga can have, in UTC (a naive one taken as UTC);
    else InvalidQuery naming `field`."""
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise InvalidQuery(f"{field} must be a time between {MIN_YEAR} and {MAX_YEAR}", field)
    return _utc(moment, field)


def _utc(moment: datetime, field: str) -> datetime:
    # Near years 1 and 9999 an offset overflows the conversion; PostgreSQL refuses some
    # offsets Python takes (over 15:59), so what reaches it is always UTC.
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise InvalidQuery(f"{field} is too far in the past or future", field) from None


@dataclass(frozen=True)
class Search:
    """What a search text finds: sagas whose correlation id starts with it, and, when it
    reads as the start of a saga id (hex, dashes anywhere, MIN_ID_PREFIX digits or more),
    sagas whose id does. Each half is one index range: the primary key for ids, and a
    pattern-ops index (text compared byte by byte, whatever the collation) for the
    correlation id's LIKE 'prefix%'."""

    prefix: str
    ids: tuple[uuid.UUID, uuid.UUID] | None  # lowest and highest id with that start

    @classmethod
    def parse(cls, text: str) -> Search:
        """InvalidQuery for a text no database could compare (too long, NUL, surrogates)."""
        text = text.strip()
        if len(text) > MAX_SEARCH:
            raise InvalidQuery(f"search is longer than {MAX_SEARCH} characters", "search")
        wrong = text_problem(text)
        if wrong:
            raise InvalidQuery(f"search {wrong}", "search")
        return cls(text, _id_range(text))

    def q(self) -> Q:
        found = Q(correlation_id__startswith=self.prefix)
        if self.ids is not None:
            low, high = self.ids
            found |= Q(id__gte=low, id__lte=high)
        return found

    def matches(self, saga_id: str, correlation_id: str) -> bool:
        """The same test in Python, for a live row (ids as text, any case)."""
        if correlation_id.startswith(self.prefix):
            return True
        if self.ids is None:
            return False
        key = uuid.UUID(saga_id)
        return self.ids[0] <= key <= self.ids[1]


MIN_ID_PREFIX = 4  # hex digits: fewer would match one saga in 4,096 by chance


def _id_range(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    try:
        whole = uuid.UUID(text)  # also takes {braces}, urn:uuid: and 32 digits
        return whole, whole
    except ValueError:
        pass
    digits = text.replace("-", "").lower()
    if not MIN_ID_PREFIX <= len(digits) <= 32 or digits.strip("0123456789abcdef"):
        return None
    pad = 32 - len(digits)
    return uuid.UUID(digits + "0" * pad), uuid.UUID(digits + "f" * pad)


def encode_cursor(saga: SagaInstance) -> str:
    raw = json.dumps([saga.created_at.isoformat(), str(saga.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor holds; InvalidQuery for one this code did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, saga_id = json.loads(raw)
        moment = datetime.fromisoformat(created)
        key = uuid.UUID(saga_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, RecursionError):
        raise InvalidQuery("cursor is not one this API returned", "cursor") from None
    # Cursors hold a UTC time (encode_cursor); any other would reach the database as it is.
    if moment.utcoffset() is None or moment.utcoffset().total_seconds() != 0:
        raise InvalidQuery("cursor is not one this API returned", "cursor")
    return in_range(moment, "cursor"), key


def page(
    flt: SagaFilter, cursor: str | None = None, limit: int = 50
) -> tuple[list[SagaInstance], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit must be between 1 and {MAX_PAGE}", "limit")
    qs = flt.apply(SagaInstance.objects.all()).order_by("-created_at", "-id")
    if cursor:
        created, saga_id = decode_cursor(cursor)
        qs = qs.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=saga_id))
    with saga_query.bounded() if flt.query else nullcontext():
        rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)
