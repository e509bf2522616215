"""Failures grouped by cause as they commit: the same cause in many sagas is one problem,
another step or error class is another; a saga repaired leaves the open count; a resolved
problem that fails again reopens as regressed; a snoozed one wakes by time or by count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sagas.engine.fingerprint import cause, normalise
from sagas.engine.problems import regroup_stuck
from sagas.models import Problem, SagaInstance
from sagas.services.actions import perform
from sagas.services.actors import Actor
from tests.factories import settle, start, worker
from tests.repairable import defined, make, works
from tests.states import put

# The worker claims by the database clock, which stands still inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Actor(name="root", scopes=frozenset({"operate"}))


def test_the_variable_parts_of_a_message_are_normalised():
    one = "payment for order 8812 declined: card 4242 over limit (EUR 1,250.00)"
    two = "payment for order 9 declined: card 5555 over limit (EUR 80.10)"
    assert (
        normalise(one)
        == normalise(two)
        == ("payment for order <n> declined: card <n> over limit (EUR <n>)")
    )
    assert normalise(
        "saga 3f2b6417-aaaa-4bbb-8ccc-123456789abc timed out at 2026-11-29T12:00Z"
    ) == ("saga <uuid> timed out at <time>")
    assert normalise("HTTPConnectionPool(host='10.0.0.7', port=8001)") == (
        "HTTPConnectionPool(host=<value>, port=<n>)"
    )
    assert len(normalise("x " * 10_000)) == 500


def test_the_same_cause_in_different_sagas_is_one_fingerprint():
    a = cause("order", "charge", "forward", "CardDeclined", "order 1 declined (EUR 10.00)")
    b = cause("order", "charge", "forward", "CardDeclined", "order 77 declined (EUR 3.50)")
    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize(
    "other",
    [
        ("order", "ship", "forward", "CardDeclined", "order 1 declined (EUR 10.00)"),  # step
        ("order", "charge", "compensation", "CardDeclined", "order 1 declined (EUR 10.00)"),
        ("order", "charge", "forward", "Timeout", "order 1 declined (EUR 10.00)"),  # class
        ("payout", "charge", "forward", "CardDeclined", "order 1 declined (EUR 10.00)"),  # type
        ("order", "charge", "forward", "CardDeclined", "order 1 refused (EUR 10.00)"),  # words
    ],
)
def test_another_step_phase_class_type_or_wording_is_another_fingerprint(other):
    a = cause("order", "charge", "forward", "CardDeclined", "order 1 declined (EUR 10.00)")
    assert cause(*other).fingerprint != a.fingerprint


@pytest.fixture
def repairable():
    with defined():
        yield


def test_sagas_failing_for_one_cause_are_one_problem_and_another_step_another(repairable):
    stuck = [make("failed_compensating") for _ in range(3)]
    after_pivot = make("failed_forward")
    assert Problem.objects.count() == 2
    refund = Problem.objects.get(step="charge")
    assert (refund.phase, refund.error_type) == ("compensation", "builtins.ConnectionError")
    assert refund.message == "payment service down"
    assert (refund.open_count, refund.total_count, refund.status) == (3, 3, "open")
    assert sum(refund.hourly.values()) == 3
    notify = Problem.objects.get(step="notify")
    assert (notify.phase, notify.error_type, notify.open_count) == (
        "forward",
        "builtins.ConnectionError",
        1,
    )
    grouped = SagaInstance.objects.filter(id__in=[s.id for s in stuck])
    assert set(grouped.values_list("problem_id", flat=True)) == {refund.id}
    assert SagaInstance.objects.get(id=after_pivot.id).problem_id == notify.id


def test_a_repaired_saga_leaves_the_open_count_and_keeps_its_group(repairable):
    saga = make("failed_forward")
    problem = Problem.objects.get()
    works["notify"] = True
    perform(saga.id, "retry", actor=ROOT, version=saga.version, reason="mail server back")
    problem.refresh_from_db()
    assert problem.open_count == 0
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == "completed"
    assert saga.problem_id == problem.id
    problem.refresh_from_db()
    assert (problem.open_count, problem.total_count) == (0, 1)


def test_a_saga_that_fails_again_after_a_retry_counts_again(repairable):
    saga = make("failed_compensating")
    perform(saga.id, "retry", actor=ROOT, version=saga.version, reason="try once more")
    settle(worker())
    problem = Problem.objects.get()
    assert (problem.open_count, problem.total_count) == (1, 2)


def test_a_resolved_problem_that_fails_again_reopens_as_regressed(repairable):
    make("failed_forward")
    Problem.objects.update(status="resolved", resolved_at=timezone.now())
    make("failed_forward")
    problem = Problem.objects.get()
    assert problem.status == "open"
    assert problem.regressed_at is not None and problem.resolved_at is None
    assert (problem.open_count, problem.total_count) == (2, 2)


def test_a_snoozed_problem_sleeps_until_its_time_and_then_wakes(repairable):
    make("failed_forward")
    Problem.objects.update(status="snoozed", snoozed_until=timezone.now() + timedelta(hours=1))
    make("failed_forward")
    assert Problem.objects.get().status == "snoozed"
    Problem.objects.update(snoozed_until=timezone.now() - timedelta(seconds=1))
    make("failed_forward")
    problem = Problem.objects.get()
    assert (problem.status, problem.snoozed_until, problem.open_count) == ("open", None, 3)


def test_a_problem_snoozed_for_a_count_wakes_at_that_many_more_failures(repairable):
    make("failed_forward")
    Problem.objects.update(status="snoozed", snooze_failures=2)
    make("failed_forward")
    assert Problem.objects.get().status == "snoozed"
    make("failed_forward")
    assert Problem.objects.get().status == "open"


def test_a_saga_idle_past_its_threshold_is_counted_once_in_a_stuck_problem(settings):
    settings.SAGASCOPE_STUCK_AFTER = {"ledger": 60}
    idle = put(start("ledger", {}), updated_at=timezone.now() - timedelta(minutes=5))
    fresh = start("ledger", {})
    assert regroup_stuck(timezone.now()) == (1, 0)
    assert regroup_stuck(timezone.now()) == (0, 0)  # a second watch counts nobody twice
    problem = Problem.objects.get()
    assert (problem.saga_type, problem.step, problem.phase) == ("ledger", "a", "forward")
    assert (problem.error_type, problem.message) == ("Stuck", "no progress for more than <n> s")
    assert (problem.open_count, problem.total_count) == (1, 1)
    idle.refresh_from_db()
    assert idle.stuck_problem_id == problem.id and idle.stuck_at is not None
    assert SagaInstance.objects.get(id=fresh.id).stuck_at is None


def test_a_stuck_saga_that_moves_again_leaves_the_open_count(settings):
    settings.SAGASCOPE_STUCK_AFTER = {"ledger": 60}
    idle = put(start("ledger", {}), updated_at=timezone.now() - timedelta(minutes=5))
    w = worker()
    w.watch()  # the worker's own watch, as its loop runs it
    assert Problem.objects.get().open_count == 1
    settle(w)
    assert regroup_stuck(timezone.now()) == (0, 1)
    problem = Problem.objects.get()
    assert (problem.open_count, problem.total_count) == (0, 1)
    idle.refresh_from_db()
    assert (idle.status, idle.stuck_at, idle.stuck_problem_id) == ("completed", None, None)


def test_a_saga_stuck_in_compensation_is_another_problem(settings):
    settings.SAGASCOPE_STUCK_AFTER = {"ledger": 60}
    long_ago = timezone.now() - timedelta(minutes=5)
    put(start("ledger", {}), updated_at=long_ago)
    put(
        start("ledger", {}),
        status="compensating",
        phase="compensation",
        current_step=1,
        compensation_plan=[1, 0],
        updated_at=long_ago,
    )
    assert regroup_stuck(timezone.now()) == (2, 0)
    assert sorted(Problem.objects.values_list("step", "phase", "open_count")) == [
        ("a", "forward", 1),
        ("b", "compensation", 1),
    ]
