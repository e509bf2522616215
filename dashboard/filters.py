"""The list's filters as the URL holds them: parsed strictly (an unknown filter or value is
a 400, not a silently empty page), turned into a SagaFilter, and matched against live rows.

The search box `q` holds a plain term (the start of a saga id or correlation id) or, when it
has an operator (= != < > ~ or IN (...)), a query in the search language (saga_query)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sagas.models import SagaInstance
from sagas.registry import registry
from sagas.services import saga_query
from sagas.services.listcolumns import DEFAULT_COLUMNS, columns_text, parse_columns
from sagas.services.queries import (
    MAX_SEARCH,
    MAX_YEAR,
    MIN_YEAR,
    InvalidQuery,
    SagaFilter,
    Search,
    decode_cursor,
)
from sagas.services.saga_query import bounded, looks_like_query, matching
from sagas.statuses import SagaStatus
from sagas.storable import text_problem

# `columns` and `view` choose how the list looks (a saved view), not which sagas it holds.
PARAMS = ("type", "status", "q", "from", "to", "problem", "cursor", "columns", "view")
# The live feeds take the list's filters plus the last event id the browser saw.
LIVE_PARAMS = (*PARAMS, "after")
# Event ids are 64-bit; a bigger "after" would overflow the database's integer.
MAX_EVENT_ID = 2**63 - 1


@dataclass(frozen=True)
class ListFilters:
    type: str = ""
    status: str = ""
    q: str = ""
    start: datetime | None = None
    end: datetime | None = None
    problem: int | None = None
    cursor: str = ""
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    view: int | None = None  # the saved view (sagas/services/savedviews.py) it was opened from

    @property
    def is_query(self) -> bool:
        return looks_like_query(self.q)

    @property
    def saga_filter(self) -> SagaFilter:
        return SagaFilter(
            type=self.type or None,
            status=self.status or None,
            search=(self.q or None) if not self.is_query else None,
            query=self.q if self.is_query else None,
            created_after=self.start,
            created_before=self.end,
            problem=self.problem,
        )

    def params(self, **changes: Any) -> str:
        """The query string of this view (with `changes`), for links that keep the filters."""
        values = {
            "type": self.type,
            "status": self.status,
            "q": self.q,
            "from": _local(self.start),
            "to": _local(self.end),
            "problem": self.problem,
            "cursor": self.cursor,
            "columns": columns_text(self.columns),
            "view": self.view,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v})

    def filter_params(self) -> str:
        """The query string of the filters alone: which sagas, not which page or columns."""
        return self.params(cursor="", columns="", view=None)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether a live row (a payloads.list_row) belongs in this view."""
        if self.type and row["type"] != self.type:
            return False
        if self.status and row["status"] != self.status:
            return False
        if self.problem is not None and self.problem not in (row["problem"], row["stuck_problem"]):
            return False
        # A query reads fields a row does not carry: `confirmed` asks the database.
        plain = self.q and not self.is_query
        if plain and not Search.parse(self.q).matches(row["id"], row["correlation_id"]):
            return False
        created = datetime.fromisoformat(row["created_at"])
        if self.start is not None and created < self.start:
            return False
        return not (self.end is not None and created >= self.end)

    def confirmed(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Of live rows that passed `matches`, those the query matches (all, without one)."""
        if not rows or not self.is_query:
            return rows
        ids = [row["id"] for row in rows]
        with bounded():
            found = matching(SagaInstance.objects.filter(id__in=ids), self.q)
            keep = {str(saga_id) for saga_id in found.values_list("id", flat=True)}
        return [row for row in rows if row["id"] in keep]


def parse(params: Mapping[str, str], allowed: tuple[str, ...] = PARAMS) -> ListFilters:
    """A ListFilters from request parameters; InvalidQuery names the first bad one."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidQuery(
            f"unknown filter {unknown[0]!r}; filters are {', '.join(allowed)}", unknown[0]
        )
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731
    status = get("status")
    if status and status not in SagaStatus.values:
        raise InvalidQuery(
            f"status must be one of {', '.join(SagaStatus.values)}, not {status!r}", "status"
        )
    saga_type = get("type")
    if saga_type and not _known_type(saga_type):
        known = ", ".join(registry.names()) or "none"
        raise InvalidQuery(f"unknown saga type {saga_type!r} (known: {known})", "type")
    q = get("q")
    if looks_like_query(q):
        saga_query.q(q)  # a bad query is refused here, with its position
    else:
        if len(q) > MAX_SEARCH:
            raise InvalidQuery(f"search is longer than {MAX_SEARCH} characters", "q")
        wrong = text_problem(q)
        if wrong:
            raise InvalidQuery(f"search {wrong}", "q")
    start, end = _time(get("from"), "from"), _time(get("to"), "to")
    if start and end and start >= end:
        raise InvalidQuery("'from' must be before 'to'", "from")
    problem = _problem(get("problem"))
    columns = parse_columns(get("columns"))
    view = _id(get("view"), "view", "a saved view's id")
    cursor = get("cursor")
    if cursor:
        decode_cursor(cursor)
    return ListFilters(
        type=saga_type,
        status=status,
        q=q,
        start=start,
        end=end,
        problem=problem,
        cursor=cursor,
        columns=columns,
        view=view,
    )


def _problem(value: str) -> int | None:
    return _id(value, "problem", "a problem's id")


def _id(value: str, name: str, what: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_EVENT_ID:
        raise InvalidQuery(f"{name} must be {what} (a whole number)", name)
    return int(value)


def parse_after(value: str | None) -> int | None:
    """The last event id a browser saw, or None; InvalidQuery when it is not one."""
    if value is None or value == "":
        return None
    try:
        after = int(value)
    except (TypeError, ValueError):
        raise InvalidQuery("after must be an event id (a whole number)", "after") from None
    if not 0 <= after <= MAX_EVENT_ID:
        raise InvalidQuery("after must be an event id (a whole number)", "after")
    return after


def recent_ranges(now: datetime) -> list[tuple[str, str]]:
    """Quick time ranges for the filter bar, as absolute `from` values (shareable)."""
    spans = [("15 min", timedelta(minutes=15)), ("1 hour", timedelta(hours=1))]
    spans += [("24 hours", timedelta(days=1)), ("7 days", timedelta(days=7))]
    return [(label, _local(now - span) or "") for label, span in spans]


def _known_type(saga_type: str) -> bool:
    # Types no longer in the code still have sagas worth finding.
    return (
        registry.find(saga_type) is not None
        or SagaInstance.objects.filter(saga_type=saga_type).exists()
    )


def _time(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(
            f"{name!r} must be a date and time like 2025-01-31T14:05, not {value!r}", name
        ) from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InvalidQuery(
            f"{name!r} must be a date between {MIN_YEAR} and {MAX_YEAR}, not {value!r}", name
        )
    # The page shows and takes UTC (settings.TIME_ZONE), so a bare time means UTC. Kept in
    # UTC: PostgreSQL refuses offsets it thinks unreal (over 15:59), which Python takes.
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _local(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="minutes")
