"""Every action in every saga state, through the API: allowed -> its effect, refused -> 409
with the reason and nothing changed; what each would do, in words; edited input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from sagas.definition import Retry, Saga, Step
from sagas.models import OperatorAction, SagaInstance, StepAttempt
from sagas.registry import registry
from sagas.services.actions import ACTIONS, effect_of
from sagas.statuses import Phase, SagaStatus
from tests import states
from tests.factories import start

pytestmark = pytest.mark.django_db


def noop(ctx):
    return None


class Matrix(Saga):
    name = "matrix"
    register = False
    steps = [
        Step("a", action=noop, compensation=noop),
        Step("b", action=noop, compensation=noop, retry=Retry(max_attempts=3)),
        Step("p", action=noop, pivot=True),
        Step("r", action=noop, retriable=True),
    ]

    @classmethod
    def validate_input(cls, data):
        from sagas.exceptions import InvalidSagaInput

        if "qty" in data and not isinstance(data["qty"], int):
            raise InvalidSagaInput("input.qty must be an integer")


@pytest.fixture(autouse=True)
def matrix():
    with registry.override(Matrix):
        yield


def put(saga: SagaInstance, **fields) -> SagaInstance:
    """Place a saga in a state, as the worker would have left it, with a and b run."""
    return states.put(saga, results={"a": None, "b": None}, **fields)


def running_backoff(s):  # step b waits for its retry
    return put(
        s,
        status="running",
        current_step=1,
        attempt=1,
        failures=1,
        next_run_at=timezone.now() + timedelta(minutes=5),
    )


def running_in_flight(s):
    s = put(
        s, status="running", current_step=1, attempt=1, in_flight=True, next_run_at=timezone.now()
    )
    StepAttempt.objects.create(
        saga=s,
        step_name="b",
        step_index=1,
        phase="forward",
        attempt=1,
        idempotency_key=f"{s.id}:b:forward:1",
        status="running",
        started_at=timezone.now(),
    )
    return s


def failed_forward(s):  # after the pivot, r gave up
    return put(
        s,
        status="failed",
        current_step=3,
        attempt=7,
        failures=7,
        next_run_at=None,
        reason="step 'r' comes after the pivot...",
    )


def failed_compensation(s):  # a's compensation ran out of retries
    return put(
        s,
        status="failed",
        phase="compensation",
        current_step=0,
        attempt=5,
        failures=5,
        compensation_plan=[0],
        next_run_at=None,
        reason="compensation of step 'a'...",
    )


def compensating_backoff(s):
    return put(
        s,
        status="compensating",
        phase="compensation",
        current_step=1,
        attempt=1,
        failures=1,
        compensation_plan=[1, 0],
        next_run_at=timezone.now() + timedelta(minutes=5),
    )


def completed(s):
    return put(s, status="completed", current_step=3, next_run_at=None, finished_at=timezone.now())


def compensated(s):
    return put(
        s,
        status="compensated",
        phase="compensation",
        current_step=0,
        next_run_at=None,
        finished_at=timezone.now(),
    )


STATES = {
    "running_backoff": running_backoff,
    "running_in_flight": running_in_flight,
    "failed_forward": failed_forward,
    "failed_compensation": failed_compensation,
    "compensating_backoff": compensating_backoff,
    "completed": completed,
    "compensated": compensated,
}

ALLOWED = {
    "retry": {"failed_forward", "failed_compensation"},
    "resume": {"failed_forward", "failed_compensation"},
    "retry_with_input": {"failed_forward", "failed_compensation"},
    "compensate": {"running_backoff", "running_in_flight"},
    "cancel": {"running_backoff", "running_in_flight"},
    "skip": {"running_backoff", "failed_forward", "failed_compensation", "compensating_backoff"},
}


@pytest.fixture
def root():
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def act(client, saga, action, **body):
    body = {"version": saga.version, "reason": "night shift fix", **body}
    return client.post(
        f"/api/sagas/{saga.id}/{action}", json.dumps(body), content_type="application/json"
    )


@pytest.mark.parametrize("state", sorted(STATES))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_in_every_state(root, action, state):
    saga = STATES[state](start("matrix", {"qty": 1}))
    before = saga.version
    extra = {"input": {"qty": 2}} if action == "retry_with_input" else {}
    effect = effect_of(saga, action)
    response = act(root, saga, action, **extra)
    saga.refresh_from_db()
    if state in ALLOWED[action]:
        assert response.status_code == 200, response.content
        assert effect.allowed and effect.text
        assert saga.version == before + 1
        record = OperatorAction.objects.get(saga=saga)
        assert (record.action, record.actor, record.reason) == (action, "root", "night shift fix")
        assert record.version_before == before and len(record.trace_id) == 32
    else:
        assert response.status_code == 409, response.content
        assert response.json()["detail"] == effect.text  # the page said the same, beforehand
        assert saga.version == before and not OperatorAction.objects.exists()


def test_the_effects_say_what_will_happen():
    saga = running_backoff(start("matrix"))
    assert effect_of(saga, "compensate").text == ("compensates step 1 (a), in reverse order")
    in_b = running_in_flight(start("matrix"))
    assert effect_of(in_b, "cancel").text == (
        "compensates step 2 (b) and step 1 (a), in reverse order"
    )
    stuck = failed_compensation(start("matrix"))
    assert effect_of(stuck, "retry").text.startswith(
        "runs the compensation of step 1 (a) again with a new idempotency key (generation 2"
    )
    assert "same idempotency key" in effect_of(stuck, "resume").text
    assert effect_of(stuck, "skip").text == (
        "marks the compensation of step 1 (a) as compensated by hand, then the saga is compensated"
    )
    assert effect_of(running_backoff(start("matrix")), "skip").text == (
        "marks step 2 (b) as done by hand, then continues with step 3 (p)"
    )
    assert not effect_of(completed(start("matrix")), "retry").allowed


def test_retry_with_edited_input_records_the_diff(root):
    saga = failed_forward(start("matrix", {"qty": 1, "sku": "MUG", "note": "x"}))
    r = act(root, saga, "retry_with_input", input={"qty": 3, "sku": "MUG", "gift": True})
    assert r.status_code == 200, r.content
    saga.refresh_from_db()
    assert saga.input == {"qty": 3, "sku": "MUG", "gift": True}
    assert saga.status == SagaStatus.RUNNING and saga.generations == {"3:forward": 2}
    detail = OperatorAction.objects.get(saga=saga).detail
    assert detail["input_diff"] == [
        {"path": "gift", "op": "added", "before": None, "after": True},
        {"path": "note", "op": "removed", "before": "x", "after": None},
        {"path": "qty", "op": "changed", "before": 1, "after": 3},
    ]
    assert detail["input_before"]["qty"] == 1


@pytest.mark.parametrize(
    ("new_input", "message"),
    [
        (None, "must be a JSON object"),
        ([1], "input: Input should be a valid dictionary"),
        ({"qty": "many"}, "input.qty must be an integer"),
        ({"qty": 1}, "the same as the current"),
    ],
)
def test_bad_edited_input_is_refused_and_changes_nothing(root, new_input, message):
    saga = failed_forward(start("matrix", {"qty": 1}))
    r = act(root, saga, "retry_with_input", input=new_input)
    assert 400 <= r.status_code < 500 and message in r.json()["detail"]
    saga.refresh_from_db()
    assert saga.input == {"qty": 1} and saga.status == SagaStatus.FAILED


def test_each_action_needs_its_own_permission():
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    for action in ACTIONS:
        saga = failed_forward(start("matrix", {"qty": 1}))
        extra = {"input": {"qty": 2}} if action == "retry_with_input" else {}
        r = act(client, saga, action, **extra)
        assert r.status_code == 403, (action, r.content)
        assert ACTIONS[action].permission.split(".")[1] in r.json()["detail"]
    user.user_permissions.add(Permission.objects.get(codename="retry_saga"))
    client.force_login(User.objects.get(pk=user.pk))
    saga = failed_forward(start("matrix", {"qty": 1}))
    assert act(client, saga, "retry").status_code == 200
    # retrying with an edit is a different permission from retrying
    saga = failed_forward(start("matrix", {"qty": 1}))
    assert act(client, saga, "retry_with_input", input={"qty": 5}).status_code == 403


def test_overriding_actions_need_a_reason(root):
    for action in ("compensate", "cancel", "skip"):
        saga = running_backoff(start("matrix"))
        r = act(root, saga, action, reason=" ")
        assert r.status_code == 422 and "needs a reason" in r.json()["detail"], action
    saga = failed_forward(start("matrix"))
    assert act(root, saga, "retry", reason="").status_code == 200  # retry overrides nothing


def test_phase_names_in_the_state_machine_match():
    assert Phase.COMPENSATION == "compensation"
