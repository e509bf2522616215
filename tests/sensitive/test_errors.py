"""A step that quotes a sensitive value in its exception: the error is recorded with the
value masked (message, traceback, the saga's reason, its problem), so no page, span or
archive that shows errors holds it. A participant's error message likewise."""

from __future__ import annotations

import json
import uuid

import pytest

from sagas.messaging import schema
from sagas.models import Problem, SagaInstance, StepAttempt
from sagas.sensitive import MARKER
from sagas.services import replies
from tests.factories import settle, start, worker

from .vault import CARD, INPUT, leaks, logged_in, staff

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_step_s_error_quoting_the_card_is_recorded_masked(django_user_model):
    declined = start("vault", {**INPUT, "decline": True}, correlation_id="declined")
    crashed = start("vault", {**INPUT, "crash": True}, correlation_id="crashed")
    settle(worker())
    for saga in (declined, crashed):
        saga.refresh_from_db()
        assert saga.input["card_number"] == CARD  # the input itself is stored whole
        errors = StepAttempt.objects.filter(saga=saga, step_name="charge", phase="forward")
        assert errors and all(MARKER in a.error_message for a in errors)
        text = json.dumps([saga.reason, *errors.values_list("error_message", "error_traceback")])
        assert leaks(text) == []
    assert StepAttempt.objects.filter(saga=crashed).exclude(error_traceback="").exists()
    assert leaks(json.dumps(list(Problem.objects.values("message", "sample")))) == []
    root = staff(django_user_model, "debugger", "view_traceback")
    html = logged_in(root).get(f"/sagas/{crashed.id}/").content.decode()
    assert leaks(html) == [] and "cannot charge card" in html


def test_a_participant_s_error_quoting_the_card_is_masked():
    saga = start("vault", INPUT)
    reply = schema.Reply(
        message_id=uuid.uuid4(),
        saga_id=saga.id,
        step="charge",
        phase="forward",
        attempt=1,
        idempotency_key="k",
        in_reply_to=None,
        duplicate=False,
        ok=False,
        result=None,
        error_type="payment.Declined",
        error_message=f"card {CARD} declined",
        business=True,
    )
    event = replies.outcome(reply, saga.created_at, SagaInstance.objects.get(id=saga.id))
    assert event.error.message == f"card {MARKER} declined"
