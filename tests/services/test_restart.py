"""Starting again: from a saga that undid (or is undoing) its steps, a new saga of the same
type with an edited input, which can go through where "retry with edited input" only runs
the compensation again; linked both ways, audited, and one new saga per double click."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connections

from sagas.exceptions import ActionNotAllowed, InvalidSagaInput, ReasonRequired
from sagas.models import OperatorAction, SagaEvent, SagaInstance
from sagas.services.actions import SagaNotFound
from sagas.services.actors import Actor
from sagas.services.restart import effect, links, restart
from sagas.statuses import EventType, Phase, SagaStatus
from tests.factories import settle, worker
from tests.repairable import defined, make, works
from tests.states import put

# A worker runs the new saga (it claims with the database clock), and two clicks race.
pytestmark = pytest.mark.django_db(transaction=True)

OPS = Actor(name="token:ops", scopes=frozenset({"operate", "start"}))
FIXED = {"refuse_ship": False, "carrier": "backup"}


@pytest.fixture(autouse=True)
def repairable():
    with defined():
        yield


def test_a_refused_saga_starts_again_as_a_new_saga_that_goes_through():
    old = make("compensated")  # the carrier refused at the pivot: charged, then refunded
    assert old.compensation_cause == "refusal"
    done = restart(old.id, actor=OPS, new_input=FIXED, reason="customer chose another carrier")
    assert done.created
    new = done.new
    assert new.id != old.id and new.saga_type == old.saga_type
    assert new.input == FIXED and new.correlation_id == old.correlation_id
    assert new.created_by == "token:ops" and new.status == SagaStatus.RUNNING
    # The old saga is left as it was: nothing it does changes.
    before = (old.status, old.version, old.updated_at)
    old.refresh_from_db()
    assert (old.status, old.version, old.updated_at) == before
    # Linked both ways: the new saga's start names the old one; the old one's audit and
    # history name the new one.
    started = SagaEvent.objects.get(saga=new, type=EventType.SAGA_STARTED)
    assert started.payload["restarted_from"] == str(old.id)
    record = OperatorAction.objects.get(saga=old)
    assert (record.action, record.actor, record.reason) == (
        "restart",
        "token:ops",
        "customer chose another carrier",
    )
    assert record.detail["new_saga"] == str(new.id)
    assert {c["path"] for c in record.detail["input_diff"]} == {"refuse_ship", "carrier"}
    assert (record.status_before, record.status_after) == ("compensated", "compensated")
    event = SagaEvent.objects.filter(saga=old, type=EventType.OPERATOR_ACTION).get()
    assert event.payload["new_saga"] == str(new.id) and event.version == old.version
    assert links(old) == {"restarted_from": None, "restarted_as": [str(new.id)]}
    assert links(new) == {"restarted_from": str(old.id), "restarted_as": []}
    # ... and this time the order goes through.
    works["notify"] = True
    settle(worker())
    new.refresh_from_db()
    assert new.status == SagaStatus.COMPLETED


def test_a_double_click_starts_one_saga_and_another_input_another():
    old = make("compensated")
    first = restart(old.id, actor=OPS, new_input=FIXED, reason="fixed")
    again = restart(old.id, actor=OPS, new_input=dict(FIXED), reason="fixed, twice")
    assert not again.created and again.new.id == first.new.id
    assert again.action.id == first.action.id
    assert OperatorAction.objects.filter(saga=old).count() == 1
    other = restart(old.id, actor=OPS, new_input={**FIXED, "carrier": "third"}, reason="again")
    assert other.created and other.new.id != first.new.id
    assert links(old)["restarted_as"] == [str(first.new.id), str(other.new.id)]
    assert SagaInstance.objects.count() == 3


@pytest.mark.postgres
def test_two_clicks_at_once_start_one_saga():
    old = make("compensated")
    barrier = threading.Barrier(2)
    results: list[tuple[str, bool]] = []

    def click() -> None:
        try:
            barrier.wait()
            done = restart(old.id, actor=OPS, new_input=FIXED, reason="fixed")
            results.append((str(done.new.id), done.created))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len({new for new, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, True]
    assert SagaInstance.objects.count() == 2


def test_a_saga_failed_while_compensating_or_compensating_may_start_again():
    stuck = make("failed_compensating")
    assert stuck.phase == Phase.COMPENSATION
    assert "still needs a retry, resume or skip" in effect(stuck).text
    done = restart(stuck.id, actor=OPS, new_input=FIXED, reason="refund later, ship now")
    stuck.refresh_from_db()
    assert stuck.status == SagaStatus.FAILED  # it still has to finish compensating
    assert done.new.status == SagaStatus.RUNNING
    compensating = put(make("running"), status="compensating", phase="compensation")
    assert "goes on undoing its steps" in effect(compensating).text
    assert restart(compensating.id, actor=OPS, new_input=FIXED, reason="x").created


@pytest.mark.parametrize("state", ["running", "completed", "failed_forward"])
def test_a_saga_that_may_go_through_or_went_through_does_not_start_again(state):
    saga = make(state)
    assert not effect(saga).allowed
    with pytest.raises(ActionNotAllowed, match="could happen twice"):
        restart(saga.id, actor=OPS, new_input=FIXED, reason="twice?")
    assert SagaInstance.objects.count() == 1 and not OperatorAction.objects.exists()


def test_it_needs_both_permissions_a_reason_and_a_valid_input():
    old = make("compensated")
    for scopes in ({"operate"}, {"start"}, {"read", "start"}):
        with pytest.raises(PermissionDenied):
            restart(old.id, actor=Actor("t", scopes=frozenset(scopes)), new_input=FIXED)
    with pytest.raises(ReasonRequired, match="needs a reason"):
        restart(old.id, actor=OPS, new_input=FIXED, reason="  ")
    with pytest.raises(ReasonRequired, match="longer than"):
        restart(old.id, actor=OPS, new_input=FIXED, reason="x" * 2001)
    with pytest.raises(InvalidSagaInput, match="JSON object"):
        restart(old.id, actor=OPS, new_input=["no"], reason="x")
    with pytest.raises(SagaNotFound):
        restart("00000000-0000-0000-0000-000000000000", actor=OPS, new_input=FIXED, reason="x")
    assert SagaInstance.objects.count() == 1 and not OperatorAction.objects.exists()
