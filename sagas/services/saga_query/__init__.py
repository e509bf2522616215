"""The search language over a saga's own data (README, "Search"):

    type = order AND input.country = "AQ" AND input.amount > 1000
      AND status IN (failed, compensated) AND error ~ "declined" AND started > -24h

`matching(queryset, text)` is the one entry point the list, the API and bulk actions use;
`parse` and `to_q` are its two halves; `bounded()` runs the query under a time limit.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from .compiler import FIELDS, to_q
from .limits import QueryTooSlow, bounded
from .syntax import QuerySyntaxError, looks_like_query, parse

__all__ = [
    "FIELDS",
    "QuerySyntaxError",
    "QueryTooSlow",
    "bounded",
    "looks_like_query",
    "matching",
    "parse",
    "q",
    "to_q",
]


def q(text: str, now: datetime | None = None) -> Q:
    """The Q for a query text; QuerySyntaxError (with a position) for a bad one."""
    return to_q(parse(text), now)


def matching(queryset: QuerySet, text: str, now: datetime | None = None) -> QuerySet:
    """`queryset` narrowed to the sagas the query matches. Lazy, as querysets are: evaluate
    it inside `bounded()` so a slow query is stopped."""
    return queryset.filter(q(text, now))
