"""A saga's whole history as one document (sagas/services/history.py): the saga, every
attempt, every event and every operator action; tracebacks only where asked and allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

import tests.testapp.sagas
from sagas.models import SagaEvent, StepAttempt
from sagas.services.actions import SagaNotFound, perform
from sagas.services.actors import Actor
from sagas.services.history import FORMAT, history
from tests.factories import start
from tests.states import outcome_of, ran

pytestmark = pytest.mark.django_db

SERVER_PATH = str(Path(tests.testapp.sagas.__file__).resolve())


@pytest.fixture
def root():
    return Actor.of_user(User.objects.create_superuser("root", password="pw-root"))


@pytest.fixture
def viewer():
    return Actor.of_user(User.objects.create_user("viewer", password="pw", is_staff=True))


def test_the_document_holds_the_saga_every_attempt_every_event_and_the_operator_actions(root):
    saga = ran(start("ledger", {"n": 1}, correlation_id="ord-7"))
    running = start("ledger", {"n": 2})
    perform(running.id, "cancel", actor=root, version=1, reason="customer called")
    doc = history(saga.id, root)
    assert doc["format"] == FORMAT
    assert doc["saga"]["id"] == str(saga.id) and doc["saga"]["status"] == "completed"
    assert doc["saga"]["input"] == {"n": 1} and doc["saga"]["correlation_id"] == "ord-7"
    assert doc["saga"]["definition"] == ["a", "b", "c", "d"]
    assert [a["id"] for a in doc["attempts"]] == list(
        StepAttempt.objects.filter(saga=saga)
        .order_by("started_at", "id")
        .values_list("id", flat=True)
    )
    assert [e["id"] for e in doc["events"]] == list(
        SagaEvent.objects.filter(saga=saga).order_by("id").values_list("id", flat=True)
    )
    assert doc["operator_actions"] == []
    cancelled = history(running.id, root)
    (action,) = cancelled["operator_actions"]
    assert action["action"] == "cancel" and action["reason"] == "customer called"
    assert action["actor"] == "root" and cancelled["saga"]["status"] == "compensated"
    json.dumps(doc)  # JSON as it is: times and ids are strings


def test_tracebacks_only_when_asked_and_only_for_those_allowed(root, viewer):
    saga = start("ledger", {"sleep": "not a number"})  # step a crashes: a real traceback
    ran(saga, failing={"a": outcome_of(saga, "a")})
    plain = history(saga.id, root)
    assert SERVER_PATH not in json.dumps(plain)
    assert all("error_traceback" not in a for a in plain["attempts"])
    shown = history(saga.id, root, tracebacks=True)
    assert all(SERVER_PATH in a["error_traceback"] for a in shown["attempts"] if a["error_type"])
    withheld = history(saga.id, viewer, tracebacks=True)
    assert [a["error_traceback"] for a in withheld["attempts"]] == [None] * len(
        withheld["attempts"]
    )
    assert SERVER_PATH not in json.dumps(withheld)


def test_a_token_without_the_read_scope_is_refused_and_an_unknown_id_is_not_found(root):
    saga = start("ledger", {})
    with pytest.raises(PermissionDenied):
        history(saga.id, Actor(name="token:t", scopes=frozenset({"start"})))
    assert history(saga.id, Actor(name="token:r", scopes=frozenset({"read"})))["saga"]
    with pytest.raises(SagaNotFound):
        history("00000000-0000-0000-0000-000000000000", root)
