"""Which sagas a bulk action is for, as the list page posts it: the rows ticked on screen, or
every saga the page's filter matches (all pages, not only the one on screen)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from sagas.services import bulk
from sagas.services.queries import SagaFilter
from sagas.services.saga_query import QueryTooSlow, bounded

from . import filters
from .refusals import Refusal

COUNT_SHOWN = 1_000  # sagas counted for the bulk bar; past it the page says "1000+"


def matching(flt: SagaFilter) -> dict[str, Any]:
    """How many sagas the whole filter matches on every page, counted up to COUNT_SHOWN
    ("1000+"): counting up to the 20,000 one operation may take cost 100 ms a page at a
    million sagas. The preview counts them exactly."""
    try:
        with bounded():
            found = bulk.select(flt)[: COUNT_SHOWN + 1].count()
    except QueryTooSlow:
        # A query too slow to count is offered for no bulk action; the list says why.
        return {"count": 0, "more": False}
    return {"count": min(found, COUNT_SHOWN), "more": found > COUNT_SHOWN}


@dataclass(frozen=True)
class Selection:
    sagas: QuerySet
    stored: dict[str, Any]  # kept on the BulkOperation, in the API's selection shape
    label: str  # in words, for the confirmation and the operation's page


def from_post(data: QueryDict) -> Selection:
    """The selection a bulk form posted: `scope` "ids" (with `ids`) or "filter" (with
    `filter`, the list's query string); a Refusal or an InvalidQuery says what is wrong."""
    scope = data.get("scope", "")
    if scope == "filter":
        query = filters.parse(QueryDict(data.get("filter", "")))
        flt = query.saga_filter  # the cursor is ignored: every page, not the one on screen
        return Selection(bulk.select(flt), stored(flt), describe(flt))
    if scope == "ids":
        ids = [_saga_id(value) for value in data.getlist("ids")]
        if not ids:
            raise Refusal(
                400, "No saga is ticked: tick some, or choose all that match the filter.", "ids"
            )
        if len(ids) > bulk.MAX_SAGAS:
            raise Refusal(400, f"More than {bulk.MAX_SAGAS} sagas are ticked.", "ids")
        unique = list(dict.fromkeys(ids))
        noun = "saga" if len(unique) == 1 else "sagas"
        label = f"the {len(unique)} ticked {noun}"
        return Selection(bulk.select(ids=unique), {"ids": unique}, label)
    raise Refusal(400, "Choose the ticked sagas, or all that match the filter.", "scope")


def stored(flt: SagaFilter) -> dict[str, Any]:
    values = {
        "type": flt.type,
        "status": flt.status,
        "search": flt.search,
        "query": flt.query,
        "created_after": flt.created_after.isoformat() if flt.created_after else None,
        "created_before": flt.created_before.isoformat() if flt.created_before else None,
        "problem": flt.problem,
    }
    return {k: v for k, v in values.items() if v}


def describe(flt: SagaFilter) -> str:
    """A filter in words: "every saga of type payout with status failed"."""
    parts = []
    if flt.type:
        parts.append(f"of type {flt.type}")
    if flt.status:
        parts.append(f"with status {flt.status}")
    if flt.search:
        parts.append(f"whose id or correlation id starts with {flt.search!r}")
    if flt.query:
        parts.append(f"matching the query {flt.query!r}")
    if flt.created_after:
        parts.append(f"started from {flt.created_after:%Y-%m-%d %H:%M} UTC")
    if flt.created_before:
        parts.append(f"started before {flt.created_before:%Y-%m-%d %H:%M} UTC")
    if flt.problem is not None:
        parts.append(f"in problem #{flt.problem}")
    return " ".join(["every saga", *parts]) if parts else "every saga (no filter)"


def describe_stored(selection: dict[str, Any]) -> str:
    """A stored selection in words (for operations started here or through the API)."""
    if "ids" in selection:
        count = len(selection["ids"])
        return f"{count} chosen saga{'' if count == 1 else 's'}"
    parts = [f"{k} = {v}" for k, v in selection.items()]
    return "every saga with " + ", ".join(parts) if parts else "every saga (no filter)"


def _saga_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Refusal(400, f"{value[:50]!r} is not a saga id.", "ids") from None
