"""The overview's counts at scale: terminal sagas counted once up to a watermark, plus
those finished since, must equal a plain count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from dashboard.overview import compute, terminal_counts
from sagas.models import SagaInstance
from tests.factories import start
from tests.states import outcome_of, ran

pytestmark = pytest.mark.django_db


def plain_counts() -> dict[str, int]:
    return dict(SagaInstance.objects.order_by().values_list("status").annotate(n=Count("*")))


def test_counts_from_a_baseline_plus_what_finished_since_equal_a_plain_count():
    old = [start("ledger", {}), start("ledger", {"fail_at": "b"}), start("ledger", {})]
    ran(old[0])
    ran(old[1], failing={"b": outcome_of(old[1], "b")})
    ran(old[2])
    long_ago = timezone.now() - timedelta(hours=2)
    SagaInstance.objects.filter(id__in=[s.id for s in old]).update(finished_at=long_ago)
    first = compute()["counts"]  # counts the baseline: the three old ones
    assert {k: v for k, v in first.items() if v} == plain_counts()
    ran(start("ledger", {}))
    refused = start("ledger", {"fail_at": "a"})
    ran(refused, failing={"a": outcome_of(refused, "a")})
    start("ledger", {})  # still running
    second = compute()["counts"]  # the baseline is reused; the new ones come from the index
    assert {k: v for k, v in second.items() if v} == plain_counts()
    assert second["completed"] == 3 and second["compensated"] == 2 and second["running"] == 1
    terminal_counts.reset()
    assert compute()["counts"] == second
