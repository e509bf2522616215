"""Reading the failure groups (sagas/engine/problems.py groups sagas into them as they fail):
the list an operator triages, most open first, then most recent."""

from __future__ import annotations

from django.db.models import QuerySet

from sagas.models import Problem

MAX_LIMIT = 500


def listing(
    saga_type: str | None = None,
    step: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> QuerySet[Problem]:
    problems = Problem.objects.select_related("owner")
    if saga_type:
        problems = problems.filter(saga_type=saga_type)
    if step:
        problems = problems.filter(step=step)
    if status:
        problems = problems.filter(status=status)
    return problems.order_by("-open_count", "-last_seen", "-id")[: max(1, min(limit, MAX_LIMIT))]
