"""The Problems page's figures: the failure groups matching the page's filters, as the page
and its live socket send them, and whether the viewer may triage them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sagas import serializers
from sagas.engine.leases import database_now
from sagas.models import Problem
from sagas.services import problems, saga_query
from sagas.services.queries import InvalidQuery

PARAMS = ("type", "step", "status", "q")
SHOWN = 200  # groups on the page; past that, filter
TOP = 5  # groups on the overview


@dataclass(frozen=True)
class ProblemFilters:
    type: str = ""
    step: str = ""
    status: str = ""
    q: str = ""  # a query (the search language): only groups holding sagas it matches

    def params(self) -> str:
        return urlencode({k: v for k, v in vars(self).items() if v})


def parse(params: Mapping[str, str]) -> ProblemFilters:
    """Filters from the URL; InvalidQuery names the first bad one."""
    unknown = sorted(set(params) - set(PARAMS) - {"after"})
    if unknown:
        raise InvalidQuery(
            f"unknown filter {unknown[0]!r}; filters are {', '.join(PARAMS)}", unknown[0]
        )
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731
    status = get("status")
    if status and status not in Problem.Status.values:
        raise InvalidQuery(
            f"status must be one of {', '.join(Problem.Status.values)}, not {status!r}", "status"
        )
    for name in ("type", "step"):
        if len(get(name)) > 100:
            raise InvalidQuery(f"{name} is longer than 100 characters", name)
    q = get("q")
    if q:
        saga_query.q(q)  # a bad query is refused here, with its position
    return ProblemFilters(type=get("type"), step=get("step"), status=status, q=q)


def compute(filters: ProblemFilters) -> dict[str, Any]:
    now = database_now()
    counts = problems.matching_counts(filters.q) if filters.q else None
    found = problems.listing(filters.type, filters.step, filters.status, SHOWN, ids=counts)
    shown = [serializers.problem(p, now) for p in found]
    if counts is not None:
        for p in shown:
            p["matching"] = counts[p["id"]]
    return {"generated_at": serializers.iso(now), "problems": shown, "shown": SHOWN}


def top_open() -> list[dict[str, Any]]:
    """The overview's most pressing groups: open, most sagas waiting first."""
    now = database_now()
    found = problems.listing(status=Problem.Status.OPEN, limit=TOP, waiting=True)
    return [serializers.problem(p, now) for p in found]
