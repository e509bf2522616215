"""Every path of the pure state machine, with no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sagas.definition import Retry, Saga, Step
from sagas.engine import statemachine
from sagas.engine.state import (
    AddAttempt,
    Begin,
    Broken,
    CancelSaga,
    CompensateSaga,
    Deferred,
    DefinitionChanged,
    ErrorInfo,
    Failed,
    FinishAttempt,
    Lost,
    Record,
    ResumeStep,
    RetryStep,
    SkipStep,
    Succeeded,
    TimedOut,
    idempotency_key,
)
from sagas.exceptions import ActionNotAllowed, ReasonRequired
from sagas.statuses import AttemptStatus, CompensationCause, EventType, Phase, SagaStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BOOM = ErrorInfo("builtins.RuntimeError", "boom")


def noop(ctx):
    return None


class Shop(Saga):
    name = "shop-test"
    register = False
    steps = [
        Step(
            "create",
            action=noop,
            compensation=noop,
            retry=Retry(max_attempts=2, backoff=1),
            compensation_retry=Retry(max_attempts=2, backoff=1),
        ),
        Step("log", action=noop),  # compensatable kind, nothing to undo
        Step(
            "reserve",
            action=noop,
            compensation=noop,
            timeout=5,
            retry=Retry(max_attempts=3, backoff=1, jitter=0),
            compensation_retry=Retry(max_attempts=2, backoff=1),
        ),
        Step("ship", action=noop, pivot=True, retry=Retry(max_attempts=2, backoff=1)),
        Step("email", action=noop, retriable=True),
    ]


class Driver:
    def __init__(self, definition=Shop):
        self.d = definition
        self.now = T0
        t = statemachine.start("s1", definition, self.now)
        self.state = t.state
        self.effects = list(t.effects)

    def tick(self, seconds=1.0):
        self.now += timedelta(seconds=seconds)
        return self.now

    def apply(self, event):
        t = statemachine.apply(self.d, self.state, event)
        assert t.state.version == self.state.version + 1
        self.state = t.state
        self.effects.extend(t.effects)
        return t

    def begin(self):
        return self.apply(Begin(self.tick()))

    def ok(self, result=None):
        self.begin()
        return self.apply(Succeeded(self.tick(), result))

    def fail(self, business=False):
        self.begin()
        return self.apply(Failed(self.tick(), BOOM, business=business, rand=0.5))

    def timeout(self):
        self.begin()
        return self.apply(TimedOut(self.tick(), rand=0.5))

    def events(self):
        return [e.type for e in self.effects if isinstance(e, Record)]

    def attempts(self):
        return [
            (e.step_name, e.phase, e.attempt) for e in self.effects if isinstance(e, AddAttempt)
        ]


def test_happy_path_runs_every_step_once_and_completes():
    d = Driver()
    for i in range(5):
        d.ok({"n": i})
    assert d.state.status == SagaStatus.COMPLETED
    assert d.state.finished_at is not None and d.state.next_run_at is None
    assert [name for name, _, _ in d.attempts()] == ["create", "log", "reserve", "ship", "email"]
    assert d.state.results == {
        "create": {"n": 0},
        "log": {"n": 1},
        "reserve": {"n": 2},
        "ship": {"n": 3},
        "email": {"n": 4},
    }
    assert d.events()[0] == EventType.SAGA_STARTED and d.events()[-1] == EventType.SAGA_COMPLETED
    assert d.events().count(EventType.STEP_SUCCEEDED) == 5
    assert d.state.version == 11  # one per transition


def test_started_attempt_carries_key_and_deadline():
    d = Driver()
    d.ok()
    d.ok()
    t = d.begin()
    assert t.started.step_name == "reserve"
    assert t.started.idempotency_key == idempotency_key("s1", "reserve", "forward", 1)
    assert t.started.deadline == d.now + timedelta(seconds=5)
    assert d.state.in_flight


def test_business_failure_at_step_k_compensates_earlier_steps_in_reverse():
    d = Driver()
    d.ok()
    d.ok()
    d.fail(business=True)  # reserve refuses: no retry
    assert d.state.status == SagaStatus.COMPENSATING
    # reserve never happened; log has nothing to undo: only create is compensated
    assert [Shop.steps[i].name for i in d.state.plan] == ["create"]
    assert d.state.phase == Phase.COMPENSATION
    d.ok()
    assert d.state.status == SagaStatus.COMPENSATED
    assert d.events()[-3:] == [
        EventType.STEP_STARTED,
        EventType.STEP_SUCCEEDED,
        EventType.SAGA_COMPENSATED,
    ]


def test_failure_at_pivot_compensates_every_step_before_it_in_reverse():
    d = Driver()
    for _ in range(3):
        d.ok()
    d.fail(business=True)
    assert [Shop.steps[i].name for i in d.state.plan] == ["reserve", "create"]
    d.ok()
    assert Shop.steps[d.state.step].name == "create"
    d.ok()
    assert d.state.status == SagaStatus.COMPENSATED
    comp = [(n, a) for n, p, a in d.attempts() if p == Phase.COMPENSATION]
    assert comp == [("reserve", 1), ("create", 1)]


def test_transient_failure_is_retried_with_backoff_then_succeeds():
    d = Driver()
    d.ok()
    d.ok()
    t = d.fail()
    assert d.state.status == SagaStatus.RUNNING and not d.state.in_flight
    assert d.state.failures == 1
    assert d.state.next_run_at == d.now + timedelta(seconds=1)  # backoff 1, jitter 0
    assert t.effects[-1].payload["retry_in_s"] == 1.0
    d.fail()
    assert d.state.next_run_at == d.now + timedelta(seconds=2)  # exponential
    d.ok()
    assert d.state.step == 3
    keys = {
        k.idempotency_key
        for k in d.effects
        if isinstance(k, AddAttempt)
        if k.step_name == "reserve"
    }
    assert keys == {"s1:reserve:forward:1"}  # every retry reuses the key


def test_retries_exhausted_compensates():
    d = Driver()
    d.ok()
    d.ok()
    for _ in range(3):
        d.fail()
    assert d.state.status == SagaStatus.COMPENSATING
    assert "after 3 attempt(s)" in d.state.reason


def test_timed_out_step_counts_as_possibly_done_so_its_own_compensation_runs():
    d = Driver()
    d.ok()
    d.ok()
    d.timeout()
    assert d.state.possibly_done and d.state.status == SagaStatus.RUNNING
    d.fail()
    d.fail()
    assert d.state.status == SagaStatus.COMPENSATING
    assert [Shop.steps[i].name for i in d.state.plan] == ["reserve", "create"]
    finishes = [e for e in d.effects if isinstance(e, FinishAttempt)]
    assert finishes[2].status == AttemptStatus.TIMED_OUT


def test_lost_attempt_is_retried_and_possibly_done_unless_atomic():
    d = Driver()
    d.begin()
    d.apply(Lost(d.tick(), atomic=False))
    assert d.state.possibly_done and d.state.failures == 1
    d2 = Driver()
    d2.begin()
    d2.apply(Lost(d2.tick(), atomic=True))
    assert not d2.state.possibly_done


def test_compensation_is_retried_and_then_succeeds():
    d = Driver()
    d.ok()
    d.ok()
    d.fail(business=True)
    d.fail()  # compensation of create: transient
    assert d.state.status == SagaStatus.COMPENSATING and d.state.failures == 1
    d.ok()
    assert d.state.status == SagaStatus.COMPENSATED


def test_compensation_out_of_retries_fails_and_needs_an_operator():
    d = Driver()
    d.ok()
    d.ok()
    d.fail(business=True)
    d.fail()
    d.fail()
    assert d.state.status == SagaStatus.FAILED
    assert d.state.next_run_at is None
    assert "compensation of step 'create' failed after 2 attempt(s)" in d.state.reason
    assert d.events()[-1] == EventType.SAGA_FAILED


def test_compensation_refused_for_a_business_reason_fails_at_once():
    d = Driver()
    d.ok()
    d.ok()
    d.fail(business=True)
    d.fail(business=True)
    assert d.state.status == SagaStatus.FAILED


def test_pivot_that_may_have_happened_is_never_compensated():
    d = Driver()
    for _ in range(3):
        d.ok()
    d.timeout()
    d.fail()
    assert d.state.status == SagaStatus.FAILED
    assert "pivot step 'ship' may have taken effect" in d.state.reason


def test_after_the_pivot_retriable_steps_retry_until_they_succeed():
    d = Driver()
    for _ in range(4):
        d.ok()
    for _ in range(50):
        d.fail()
        assert d.state.status == SagaStatus.RUNNING
    assert d.state.next_run_at - d.now <= timedelta(seconds=60 * 1.2)  # capped backoff
    d.ok()
    assert d.state.status == SagaStatus.COMPLETED


def test_business_failure_after_the_pivot_fails_instead_of_compensating():
    d = Driver()
    for _ in range(4):
        d.ok()
    d.fail(business=True)
    assert d.state.status == SagaStatus.FAILED
    assert "comes after the pivot" in d.state.reason


def test_operator_retry_starts_a_new_key_generation_and_resume_keeps_the_key():
    d = Driver()
    d.ok()
    d.ok()
    d.fail(business=True)
    d.fail()
    d.fail()
    assert d.state.status == SagaStatus.FAILED
    d.apply(RetryStep(d.tick(), "alice", "payment fixed"))
    assert d.state.status == SagaStatus.COMPENSATING and d.state.failures == 0
    t = d.begin()
    assert t.started.idempotency_key == "s1:create:compensation:2"
    assert t.started.attempt == 3  # attempts keep counting across generations
    d.apply(Failed(d.tick(), BOOM))
    d.fail()
    assert d.state.status == SagaStatus.FAILED
    d.apply(ResumeStep(d.tick(), "alice"))
    assert d.begin().started.idempotency_key == "s1:create:compensation:2"


def test_retry_and_resume_need_a_failed_saga():
    d = Driver()
    with pytest.raises(ActionNotAllowed, match="only a failed saga"):
        d.apply(RetryStep(d.tick(), "alice"))
    with pytest.raises(ActionNotAllowed):
        d.apply(ResumeStep(d.tick(), "alice"))


def test_skip_marks_the_step_done_by_hand_and_moves_on():
    d = Driver()
    d.ok()
    d.ok()
    d.fail(business=True)
    d.fail()
    d.fail()
    with pytest.raises(ReasonRequired):
        d.apply(SkipStep(d.tick(), "alice", "  "))
    d.apply(SkipStep(d.tick(), "alice", "refunded by hand in the PSP console"))
    assert d.state.status == SagaStatus.COMPENSATED
    skipped = [e for e in d.effects if isinstance(e, AddAttempt)][-1]
    assert skipped.status == AttemptStatus.SKIPPED and skipped.finished_at is not None


def test_skip_forward_step_in_backoff_records_none_result():
    d = Driver()
    d.ok()
    d.fail()  # log, transient, in backoff
    d.apply(SkipStep(d.tick(), "bob", "logged by hand"))
    assert d.state.results["log"] is None and d.state.step == 2


def test_skip_refused_while_the_attempt_runs():
    d = Driver()
    d.begin()
    with pytest.raises(ActionNotAllowed, match="is running"):
        d.apply(SkipStep(d.tick(), "bob", "because"))


def test_compensate_now_aborts_a_running_saga_and_abandons_its_attempt():
    d = Driver()
    d.ok()
    d.ok()
    d.begin()  # reserve in flight
    d.apply(CompensateSaga(d.tick(), "alice", "customer called"))
    assert d.state.status == SagaStatus.COMPENSATING
    assert [Shop.steps[i].name for i in d.state.plan] == ["reserve", "create"]
    abandoned = [e for e in d.effects if isinstance(e, FinishAttempt)][-1]
    assert abandoned.status == AttemptStatus.FAILED
    assert d.events()[-2:] == [EventType.OPERATOR_ACTION, EventType.COMPENSATION_STARTED]


def test_compensate_and_cancel_are_refused_after_the_pivot():
    d = Driver()
    for _ in range(4):
        d.ok()
    with pytest.raises(ActionNotAllowed, match="pivot has happened"):
        d.apply(CompensateSaga(d.tick(), "alice"))
    with pytest.raises(ActionNotAllowed, match="pivot has happened"):
        d.apply(CancelSaga(d.tick(), "alice"))


def test_cancel_is_refused_when_the_pivot_is_running_and_when_not_running():
    d = Driver()
    for _ in range(3):
        d.ok()
    d.begin()
    with pytest.raises(ActionNotAllowed, match="may be taking effect"):
        d.apply(CancelSaga(d.tick(), "alice"))
    done = Driver()
    for _ in range(5):
        done.ok()
    with pytest.raises(ActionNotAllowed, match="only a running saga"):
        done.apply(CancelSaga(done.tick(), "alice"))


def test_cancel_before_the_pivot_compensates():
    d = Driver()
    d.ok()
    d.apply(CancelSaga(d.tick(), "customer-service"))
    assert d.state.status == SagaStatus.COMPENSATING
    d.ok()
    assert d.state.status == SagaStatus.COMPENSATED


def test_definition_change_fails_the_saga_with_the_reason():
    d = Driver()
    d.begin()
    d.apply(DefinitionChanged(d.tick(), "step 'log' was removed"))
    assert d.state.status == SagaStatus.FAILED
    assert d.state.reason == "definition changed: step 'log' was removed"
    assert not d.state.in_flight


def test_outcome_without_an_attempt_in_flight_is_refused():
    d = Driver()
    with pytest.raises(ActionNotAllowed):
        d.apply(Succeeded(d.tick()))


def test_backoff_is_exponential_capped_and_jittered():
    policy = Retry(max_attempts=None, backoff=1, multiplier=2, max_backoff=10, jitter=0.2)
    assert policy.delay(1, 0.5) == 1
    assert policy.delay(3, 0.5) == 4
    assert policy.delay(10, 0.5) == 10
    assert 0.8 <= policy.delay(1, 0.0) < policy.delay(1, 0.99) <= 1.2
    assert policy.delay(10, 0.99) <= 10


def test_a_timeout_of_a_command_never_delivered_is_not_possibly_done():
    d = Driver()
    d.ok()
    d.ok()
    d.begin()
    d.apply(TimedOut(d.tick(), rand=0.5, delivered=False))
    assert not d.state.possibly_done
    d.fail(business=True)
    assert [Shop.steps[i].name for i in d.state.plan] == ["create"]  # reserve not undone


def test_a_refusal_under_the_same_key_rules_out_that_keys_earlier_attempts():
    d = Driver()
    for _ in range(3):
        d.ok()
    d.timeout()  # ship: may have happened
    assert d.state.possibly_done
    d.fail(business=True)  # the same key, refused: it did not happen after all
    assert d.state.status == SagaStatus.COMPENSATING


def test_after_a_retry_the_old_keys_attempts_stay_possible():
    d = Driver()
    for _ in range(3):
        d.ok()
    d.timeout()
    d.fail()
    assert d.state.status == SagaStatus.FAILED  # the pivot may have happened
    d.apply(RetryStep(d.tick(), "alice"))
    assert d.state.possibly_done_earlier and not d.state.possibly_done
    d.fail(business=True)  # refused under the new key: says nothing about the old one
    assert d.state.status == SagaStatus.FAILED
    d.apply(ResumeStep(d.tick(), "alice"))
    assert d.state.maybe_done


def test_a_deferred_attempt_costs_no_retry_and_starts_again_when_the_circuit_allows():
    d = Driver()
    d.ok()
    d.ok()
    # reserve allows 3 attempts; six undelivered attempts held by an open circuit spend none
    for _ in range(6):
        d.begin()
        until = d.now + timedelta(seconds=7)
        d.apply(Deferred(d.tick(), until, "payment's circuit is open"))
        assert d.state.status == SagaStatus.RUNNING and not d.state.in_flight
        assert d.state.failures == 0 and not d.state.possibly_done
        assert d.state.next_run_at == until
    held = [e for e in d.effects if isinstance(e, Record) and e.payload.get("held")]
    assert len(held) == 6 and held[0].type == EventType.STEP_TIMED_OUT
    d.ok()  # the participant is back: the seventh attempt goes through
    assert d.state.step == 3 and d.attempts()[-1] == ("reserve", Phase.FORWARD, 7)


def test_deferred_needs_an_attempt_in_flight():
    d = Driver()
    with pytest.raises(ActionNotAllowed):
        d.apply(Deferred(d.tick(), d.now, "circuit open"))


def test_a_saga_the_worker_cannot_record_stops_for_an_operator():
    d = Driver()
    d.ok()
    d.begin()
    d.apply(Broken(d.tick(), "KeyError: 'amount'"))
    assert d.state.status == SagaStatus.FAILED and not d.state.in_flight
    assert "could not record" in d.state.reason and "KeyError" in d.state.reason
    assert d.state.possibly_done  # its attempt may have run before the outcome was lost
    finished = [e for e in d.effects if isinstance(e, FinishAttempt)][-1]
    assert finished.status == AttemptStatus.FAILED
    d.apply(RetryStep(d.tick(), "alice"))  # the operator's usual repairs apply
    assert d.state.status == SagaStatus.RUNNING


class RemoteShop(Saga):
    name = "remote-shop-test"
    register = False
    steps = [
        Step("create", action=noop, compensation=noop),
        Step(
            "reserve",
            command="inventory.reserve",
            compensation="inventory.release",
            timeout=5,
            retry=Retry(max_attempts=2, backoff=1, jitter=0),
        ),
        Step("ship", command="shipping.schedule", pivot=True, timeout=5),
    ]


def test_a_transient_failure_from_a_participant_leaves_its_step_possibly_done():
    # The participant's inbox stores no transient failure: another copy of the same command
    # (delivery is at least once) may still succeed, so the step's compensation must run.
    d = Driver(RemoteShop)
    d.ok()
    d.fail()  # reserve: a transient failure reply
    assert d.state.possibly_done
    d.begin()
    d.apply(TimedOut(d.tick(), rand=0.5, delivered=False))  # the retry never left
    assert d.state.status == SagaStatus.COMPENSATING
    assert [RemoteShop.steps[i].name for i in d.state.plan] == ["reserve", "create"]


def test_a_refusal_still_rules_out_a_participants_earlier_transient_failure():
    d = Driver(RemoteShop)
    d.ok()
    d.fail()  # transient
    d.fail(business=True)  # the same key refused: every copy gets this answer
    assert [RemoteShop.steps[i].name for i in d.state.plan] == ["create"]


def test_a_local_steps_transient_failure_is_not_possibly_done():
    d = Driver()
    d.ok()
    d.fail()
    assert not d.state.possibly_done


def test_a_compensation_records_its_cause_and_keeps_it_to_the_end():
    """A refusal is the business saying no, not a failure: the overview counts them apart."""
    refused = Driver()
    refused.ok()
    assert refused.state.cause == CompensationCause.NONE
    refused.fail(business=True)  # create's successor "log" refuses
    assert refused.state.cause == CompensationCause.REFUSAL
    started = [e for e in refused.effects if isinstance(e, Record)][-1]
    assert started.payload["cause"] == "refusal"
    refused.fail()  # create's compensation: transient, then out of retries
    refused.fail()
    assert refused.state.status == SagaStatus.FAILED
    refused.apply(RetryStep(refused.tick(), "alice", ""))  # an operator's retry keeps it
    refused.ok()
    assert refused.state.status == SagaStatus.COMPENSATED
    assert refused.state.cause == CompensationCause.REFUSAL

    broken = Driver()
    broken.ok()
    broken.ok()
    for _ in range(3):
        broken.fail()  # reserve runs out of retries
    assert broken.state.cause == CompensationCause.FAILURE

    timed_out = Driver()
    timed_out.ok()
    timed_out.ok()
    for _ in range(3):
        timed_out.timeout()
    assert timed_out.state.cause == CompensationCause.FAILURE

    nothing_to_undo = Driver()
    nothing_to_undo.fail(business=True)  # the first step refuses: compensated at once
    assert nothing_to_undo.state.status == SagaStatus.COMPENSATED
    assert nothing_to_undo.state.cause == CompensationCause.REFUSAL

    cancelled = Driver()
    cancelled.ok()
    cancelled.apply(CancelSaga(cancelled.tick(), "customer-service", "changed their mind"))
    assert cancelled.state.cause == CompensationCause.OPERATOR
    compensated = Driver()
    compensated.ok()
    compensated.fail()  # in backoff
    compensated.apply(CompensateSaga(compensated.tick(), "alice", "payment is down"))
    assert compensated.state.cause == CompensationCause.OPERATOR

    completed = Driver()
    for _ in range(5):
        completed.ok()
    assert completed.state.cause == CompensationCause.NONE
