"""The manual-action service layer: state and version checks, audit, lease revocation."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.db import connections

from sagas.definition import Retry, Saga, Step
from sagas.exceptions import ActionNotAllowed, ReasonRequired, StaleVersion
from sagas.models import OperatorAction, SagaEvent, SagaInstance
from sagas.registry import registry
from sagas.services.actions import UnknownAction, perform
from sagas.services.actors import Actor
from sagas.services.start import start_saga
from sagas.statuses import AttemptStatus, EventType, Phase, SagaStatus
from tests.factories import settle, start, worker

# A worker runs here (it claims with the database clock, which a test-wide transaction
# would freeze), and two operators race on one row from two threads.
pytestmark = pytest.mark.django_db(transaction=True)

refund_works = {"value": False}


def noop(ctx):
    return {"ok": True}


def refuse(ctx):
    from sagas.exceptions import BusinessError

    raise BusinessError("declined")


def refund(ctx):
    if not refund_works["value"]:
        raise ConnectionError("payment service down")
    return {"refunded": True}


class Stuck(Saga):
    """Charges, then fails at shipping; the refund fails until the test 'fixes' it."""

    name = "stuck"
    register = False
    steps = [
        Step(
            "charge",
            action=noop,
            compensation=refund,
            compensation_retry=Retry(max_attempts=2, backoff=0.01),
        ),
        Step("ship", action=refuse, pivot=True),
    ]


@pytest.fixture(autouse=True)
def definitions():
    refund_works["value"] = False
    with registry.override(Stuck):
        yield


ROOT = Actor(name="root", scopes=frozenset({"operate"}))


def failed_saga() -> SagaInstance:
    saga = start("stuck")
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == SagaStatus.FAILED, saga.reason
    return saga


def test_retry_runs_the_failed_compensation_under_a_new_key_and_is_audited():
    saga = failed_saga()
    old_key = saga.attempts.filter(phase=Phase.COMPENSATION).first().idempotency_key
    refund_works["value"] = True
    row, record = perform(
        saga.id, "retry", actor=ROOT, version=saga.version, reason="payment service is back"
    )
    assert row.status == SagaStatus.COMPENSATING and row.version == saga.version + 1
    assert (record.actor, record.action, record.reason) == (
        "root",
        "retry",
        "payment service is back",
    )
    assert (record.status_before, record.status_after) == ("failed", "compensating")
    assert (record.version_before, record.version_after) == (saga.version, saga.version + 1)
    assert record.step == "charge"
    event = SagaEvent.objects.filter(saga=saga, type=EventType.OPERATOR_ACTION).get()
    assert event.payload["action"] == "retry" and event.actor == "root"
    settle(worker())
    row.refresh_from_db()
    assert row.status == SagaStatus.COMPENSATED
    last = row.attempts.filter(phase=Phase.COMPENSATION).order_by("attempt").last()
    assert last.status == AttemptStatus.SUCCEEDED
    assert last.idempotency_key == old_key.replace(":1", ":2") and last.generation == 2


def test_a_stale_or_doubled_request_changes_nothing_and_says_why():
    saga = failed_saga()
    perform(saga.id, "resume", actor=ROOT, version=saga.version)
    with pytest.raises(StaleVersion, match=f"version {saga.version + 1}, not {saga.version}"):
        perform(saga.id, "resume", actor=ROOT, version=saga.version)
    assert OperatorAction.objects.filter(saga=saga).count() == 1
    assert SagaInstance.objects.get(id=saga.id).version == saga.version + 1


def test_two_operators_at_once_give_one_effect():
    saga = failed_saga()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def press() -> None:
        barrier.wait()
        try:
            perform(saga.id, "retry", actor=ROOT, version=saga.version)
            outcomes.append("applied")
        except StaleVersion:
            outcomes.append("stale")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["applied", "stale"]
    assert OperatorAction.objects.filter(saga=saga).count() == 1
    assert SagaInstance.objects.get(id=saga.id).generations == {"0:compensation": 2}


def test_skip_needs_a_reason_and_finishes_the_compensation_by_hand():
    saga = failed_saga()
    with pytest.raises(ReasonRequired):
        perform(saga.id, "skip", actor=ROOT, version=saga.version, reason=" ")
    # PostgreSQL text cannot hold NUL: refused with the reason, nothing recorded
    with pytest.raises(ReasonRequired, match="NUL"):
        perform(saga.id, "skip", actor=ROOT, version=saga.version, reason="by hand\x00")
    assert not OperatorAction.objects.filter(saga=saga).exists()
    row, _ = perform(
        saga.id,
        "skip",
        actor=ROOT,
        version=saga.version,
        reason="refunded by hand in the PSP console",
    )
    assert row.status == SagaStatus.COMPENSATED
    skipped = row.attempts.get(status=AttemptStatus.SKIPPED)
    assert skipped.step_name == "charge" and skipped.phase == Phase.COMPENSATION


def test_permissions_are_checked_per_action():
    saga = failed_saga()
    user = User.objects.create_user("night-shift", is_staff=True)
    operator = Actor(name=user.username, user=user)
    with pytest.raises(PermissionDenied, match="retry_saga"):
        perform(saga.id, "retry", actor=operator, version=saga.version)
    user.user_permissions.add(Permission.objects.get(codename="retry_saga"))
    operator = Actor(name=user.username, user=User.objects.get(pk=user.pk))
    perform(saga.id, "retry", actor=operator, version=saga.version)
    with pytest.raises(PermissionDenied):
        perform(
            saga.id,
            "skip",
            actor=Actor(name="token:reader", scopes=frozenset({"read"})),
            version=saga.version + 1,
            reason="x",
        )
    with pytest.raises(UnknownAction):
        perform(saga.id, "explode", actor=ROOT, version=1)


def test_compensate_now_revokes_the_lease_of_a_worker_mid_step():
    saga, _ = start_saga("ledger", {})
    busy = worker()
    busy.tick()  # step a is in flight on this worker
    held = SagaInstance.objects.get(id=saga.id)
    assert held.lease_owner == busy.id and held.in_flight
    row, _ = perform(
        saga.id,
        "compensate",
        actor=ROOT,
        version=held.version,
        reason="customer cancelled by phone",
    )
    assert row.lease_owner is None and row.lease_epoch == held.lease_epoch + 1
    settle(busy)  # the same worker carries on: its outcome for step a must not land
    row.refresh_from_db()
    assert row.status == SagaStatus.COMPENSATED
    abandoned = row.attempts.get(step_name="a", phase=Phase.FORWARD)
    assert abandoned.status == AttemptStatus.FAILED
    assert abandoned.error_type == "sagas.exceptions.OperatorAborted"
    assert not SagaEvent.objects.filter(
        saga=saga, type=EventType.STEP_SUCCEEDED, phase=Phase.FORWARD
    ).exists()
    # step a may have happened (its attempt was abandoned), so it is compensated
    assert list(
        row.attempts.filter(phase=Phase.COMPENSATION).values_list("step_name", flat=True)
    ) == ["a"]


def test_actions_on_a_saga_whose_definition_changed_are_refused():
    saga = failed_saga()

    class StuckV2(Saga):
        name = "stuck"
        register = False
        steps = [Step("ship", action=refuse, pivot=True)]

    with registry.override(StuckV2), pytest.raises(ActionNotAllowed, match="was removed"):
        perform(saga.id, "retry", actor=ROOT, version=saga.version)


def test_the_same_idempotency_key_from_two_threads_starts_one_saga():
    ids: list[str] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        try:
            saga, _ = start_saga("ledger", {"x": 1}, idempotency_key="same-key")
            ids.append(str(saga.id))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=go) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 2 and ids[0] == ids[1]
    assert SagaInstance.objects.count() == 1
