"""The overview's counts at scale: terminal sagas counted once up to a watermark, plus
those finished since, must equal a plain count."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from dashboard.overview import compute, terminal_counts
from sagas.engine.runner import Outcome
from sagas.engine.state import ErrorInfo
from sagas.models import SagaInstance
from sagas.services.actions import perform
from sagas.services.actors import Actor
from sagas.statuses import CompensationCause
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


def technical() -> Outcome:
    """A step's attempts all crash (no business refusal): retried, then compensated."""
    return Outcome("failed", time.time(), error=ErrorInfo("builtins.ConnectionError", "down"))


def test_refusals_failures_and_sagas_for_an_operator_are_counted_apart():
    """A declined card is not a failure: the overview used to put refusals in the failure
    rate ("22.4 %" next to "Failed 0")."""
    ran(start("ledger", {}))
    ran(start("ledger", {}))
    refused = [start("ledger", {"fail_at": "b"}) for _ in range(3)]
    for saga in refused:
        ran(saga, failing={"b": outcome_of(saga, "b")})
    broken = ran(start("ledger", {}), failing={"c": technical()})
    cancelled = start("ledger", {})
    perform(
        cancelled.id,
        "cancel",
        actor=Actor(name="ops", scopes=frozenset({"operate"})),
        version=1,
        reason="customer left",
    )
    stopped = start("ledger", {})
    SagaInstance.objects.filter(id=stopped.id).update(status="failed", reason="refund failed")

    # the cause is written with the transition, and read back from the row
    causes = dict(SagaInstance.objects.values_list("id", "compensation_cause"))
    assert {causes[s.id] for s in refused} == {CompensationCause.REFUSAL}
    assert causes[broken.id] == CompensationCause.FAILURE
    assert causes[cancelled.id] == CompensationCause.OPERATOR

    data = compute()
    assert data["counts"]["compensated"] == 5 and data["counts"]["failed"] == 1
    ledger = next(t for t in data["types"] if t["type"] == "ledger")
    assert {k: ledger[k] for k in ("completed", "refused", "errors", "cancelled", "failed")} == {
        "completed": 2,
        "refused": 3,
        "errors": 1,
        "cancelled": 1,
        "failed": 1,
    }
    assert ledger["ended"] == 8 and ledger["compensated"] == 5
    assert ledger["refusal_rate"] == 3 / 8
    assert ledger["failure_rate"] == 2 / 8  # one compensated after errors, one stopped
    assert data["last_hour"] == {
        "started": 8,
        "completed": 2,
        "refused": 3,
        "errors": 1,
        "cancelled": 1,
        "failed": 1,
    }
    # the minutes add up to the same, each labelled with its time for the chart's axis
    for key in ("refused", "errors", "cancelled", "failed", "completed"):
        assert sum(m[key] for m in data["minutes"]) == data["last_hour"][key], key
    times = [datetime.fromisoformat(m["minute"]) for m in data["minutes"]]
    assert len(times) == 60 and all(t.second == 0 for t in times)
    assert all(b - a == timedelta(minutes=1) for a, b in zip(times, times[1:], strict=False))
