"""Starting again from the detail page: offered beside "retry with edited input" for a saga
that undid (or is undoing) its steps, a new saga whose page links back, and the usual
refusals (422 for a missing reason or a bad input, 403 without both permissions)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from sagas.models import OperatorAction, SagaInstance
from tests.pages import embedded
from tests.repairable import defined, make

# The factory runs a worker (it claims with the database clock).
pytestmark = pytest.mark.django_db(transaction=True)
JSON = {"HTTP_ACCEPT": "application/json"}
FIXED = {"refuse_ship": False}


@pytest.fixture(autouse=True)
def repairable():
    with defined():
        yield


def panel(client: Client, saga: SagaInstance) -> dict:
    return embedded(client.get(reverse("saga-detail", args=[saga.id])), "operator-data")


def restart(client: Client, saga: SagaInstance, **data) -> object:
    data.setdefault("input", json.dumps(FIXED))
    data.setdefault("reason", "the carrier takes it now")
    return client.post(reverse("saga-restart", args=[saga.id]), data, **JSON)


def test_a_compensated_saga_offers_a_new_saga_and_says_what_finishing_would_do(staff_client):
    saga = make("compensated")
    offered = {a["name"]: a for a in panel(staff_client, saga)["actions"]}
    assert set(offered) == {"restart"}  # nothing of this saga's own is left to do
    action = offered["restart"]
    assert action["label"] == "Start a new saga with edited input" and action["new_saga"]
    assert action["effect"].startswith("starts a new repairable saga from its first step")
    assert "this one stays compensated" in action["effect"]
    assert action["finish"].startswith("nothing left: this saga is compensated already")
    assert action["url"] == reverse("saga-restart", args=[saga.id])
    # the same input is fine for a new saga: the preview does not refuse it
    same = staff_client.post(action["diff_url"], {"input": json.dumps(saga.input)})
    assert same.status_code == 200 and same.json()["problem"] == ""
    # ... where an edit of this saga must change it
    edit = staff_client.post(
        reverse("saga-input-diff", args=[saga.id]), {"input": json.dumps(saga.input)}
    )
    assert "No change" in edit.json()["problem"]


def test_a_saga_failed_while_compensating_offers_both_choices(staff_client):
    saga = make("failed_compensating")
    offered = {a["name"]: a for a in panel(staff_client, saga)["actions"]}
    assert {"retry_with_input", "restart"} <= set(offered)
    assert "runs the compensation of step 1 (charge)" in offered["retry_with_input"]["effect"]
    assert "still needs a retry, resume or skip" in offered["restart"]["effect"]


@pytest.mark.parametrize("state", ["running", "completed", "failed_forward"])
def test_a_saga_that_may_go_or_went_through_says_why_it_cannot_start_again(staff_client, state):
    data = panel(staff_client, make(state))
    assert "restart" not in {a["name"] for a in data["actions"]}
    why = next(u["why"] for u in data["unavailable"] if u["name"] == "restart")
    assert "could happen twice" in why


def test_starting_again_links_both_sagas_and_a_double_post_starts_one(staff_client):
    old = make("compensated")
    first = restart(staff_client, old)
    assert first.status_code == 201, first.content
    body = first.json()
    new = SagaInstance.objects.get(id=body["saga"])
    assert body["url"] == reverse("saga-detail", args=[new.id])
    assert new.input == FIXED and new.created_by == "operator"
    assert body["operator"]["links"]["restarted_as"] == [{"id": str(new.id), "url": body["url"]}]
    assert body["operator"]["audit"][0]["action"] == "restart"
    assert body["operator"]["audit"][0]["new_saga"] == str(new.id)
    again = restart(staff_client, old)
    assert again.status_code == 200 and again.json()["saga"] == str(new.id)
    assert SagaInstance.objects.count() == 2
    back = panel(staff_client, new)["links"]["restarted_from"]
    assert back == {"id": str(old.id), "url": reverse("saga-detail", args=[old.id])}
    # a plain form post goes to the new saga's page
    response = staff_client.post(
        reverse("saga-restart", args=[old.id]),
        {"input": json.dumps({"refuse_ship": False, "n": 2}), "reason": "form"},
    )
    latest = SagaInstance.objects.exclude(id__in=[old.id, new.id]).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("saga-detail", args=[latest.id])


def test_a_restart_is_refused_with_the_reason(staff_client, django_user_model):
    old = make("compensated")
    missing = restart(staff_client, old, reason=" ")
    assert missing.status_code == 422 and missing.json()["field"] == "reason"
    bad = restart(staff_client, old, input="[1]")
    assert bad.status_code == 422 and bad.json()["field"] == "input"
    running = make("running")
    refused = restart(staff_client, running)
    assert refused.status_code == 409 and "could happen twice" in refused.json()["detail"]
    for codenames in (["edit_saga_input"], ["start_saga"]):
        user = django_user_model.objects.create_user(f"u-{codenames[0]}", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(user)
        assert restart(client, old).status_code == 403
        assert "restart" not in {a["name"] for a in panel(client, old)["actions"]}
    assert SagaInstance.objects.count() == 2 and not OperatorAction.objects.exists()
