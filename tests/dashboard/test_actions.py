"""Operator actions from the detail page: only what the state allows is offered, each says
what it will do, every action in every state either takes effect or is refused with 409
and the reason, permissions (403), CSRF, and a doubled or concurrent post has one effect."""

from __future__ import annotations

import json
import re
import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client
from django.urls import reverse

from sagas.models import OperatorAction, SagaInstance
from sagas.services.actions import ACTIONS, effect_of
from sagas.statuses import SagaStatus
from tests.factories import settle, worker
from tests.pages import embedded
from tests.repairable import STATES, defined, make, works

# A worker runs here (it claims with the database clock, which a test-wide transaction
# would freeze), and two operators race on one row from two threads.
pytestmark = pytest.mark.django_db(transaction=True)
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def repairable():
    with defined():
        yield


@pytest.fixture
def user_with(django_user_model):
    """A staff user holding exactly the given permissions (codenames on SagaInstance)."""

    def make_user(*codenames: str, name: str = "limited") -> Client:
        user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(user)
        return client

    return make_user


def act(client: Client, saga: SagaInstance, action: str, **data) -> object:
    data.setdefault("version", saga.version)
    return client.post(reverse("saga-action", args=[saga.id, action]), data, **JSON)


def post_data(saga: SagaInstance, action: str) -> dict:
    data = {"version": saga.version, "reason": "the test says so"}
    if ACTIONS[action].edits_input:
        data["input"] = json.dumps({**saga.input, "edited": True})
    return data


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_action_in_every_state_takes_effect_or_is_a_409_saying_why(
    staff_client, state, action
):
    saga = make(state)
    expected = effect_of(saga, action)
    response = act(staff_client, saga, action, **post_data(saga, action))
    after = SagaInstance.objects.get(id=saga.id)
    records = OperatorAction.objects.filter(saga=saga)
    if expected.allowed:
        assert response.status_code == 200, response.content
        assert after.version == saga.version + 1
        record = records.get()
        assert (record.action, record.status_before, record.version_before) == (
            action,
            saga.status,
            saga.version,
        )
        body = response.json()
        assert body["action"]["id"] == record.id
        assert body["operator"]["version"] == after.version
    else:
        assert response.status_code == 409, response.content
        assert expected.text.lower() in response.json()["detail"].lower()
        assert after.version == saga.version and not records.exists()


def test_the_page_offers_only_what_the_state_allows_and_says_what_it_will_do(staff_client):
    saga = make("failed_compensating")
    response = staff_client.get(reverse("saga-detail", args=[saga.id]))
    panel = embedded(response, "operator-data")
    offered = {a["name"]: a for a in panel["actions"]}
    # ... and, beside the edit of this saga, a new saga with the edited input
    assert set(offered) == {"retry", "resume", "skip", "retry_with_input", "restart"}
    assert offered["retry"]["effect"].startswith("runs the compensation of step 1 (charge) again")
    assert offered["retry"]["url"] == reverse("saga-action", args=[saga.id, "retry"])
    assert offered["skip"]["needs_reason"] and not offered["retry"]["needs_reason"]
    assert offered["retry_with_input"]["edits_input"]
    why = {u["name"]: u["why"] for u in panel["unavailable"]}
    assert "only a running saga can be cancelled" in why["cancel"]
    assert panel["version"] == saga.version and panel["input"] == saga.input


def test_a_running_saga_offers_cancel_and_compensate_with_their_effect(staff_client):
    saga = make("running")
    panel = staff_client.get(reverse("saga-operator", args=[saga.id])).json()
    effects = {a["name"]: a["effect"] for a in panel["actions"]}
    assert set(effects) == {"compensate", "cancel", "skip"}
    assert effects["cancel"] == "nothing has to be undone: the saga ends compensated at once"
    assert effects["skip"] == effect_of(saga, "skip").text
    assert "step 1 (charge) as done by hand, then continues with step 2 (ship)" in effects["skip"]


def test_retry_after_the_fix_runs_the_compensation_to_the_end(staff_client):
    saga = make("failed_compensating")
    works["refund"] = True
    response = act(staff_client, saga, "retry", reason="payment service is back")
    assert response.status_code == 200
    body = response.json()
    assert (
        body["detail"] == f"Retry applied: the saga is compensating (version {saga.version + 1})."
    )
    assert body["action"]["reason"] == "payment service is back"
    assert body["action"]["status_before"] == "failed"
    assert body["action"]["status_after"] == "compensating"
    settle(worker())
    assert SagaInstance.objects.get(id=saga.id).status == SagaStatus.COMPENSATED


def test_a_double_post_with_the_same_version_has_one_effect(staff_client):
    saga = make("failed_forward")
    first = act(staff_client, saga, "resume")
    second = act(staff_client, saga, "resume")
    assert first.status_code == 200
    assert second.status_code == 409
    detail = second.json()["detail"]
    assert detail.startswith("The saga's version changed:")
    assert f"version {saga.version + 1}, not {saga.version}" in detail
    assert second.json()["operator"]["version"] == saga.version + 1  # the page can review
    assert OperatorAction.objects.filter(saga=saga).count() == 1


def test_two_operators_posting_at_once_give_one_effect(staff, django_user_model):
    saga = make("failed_forward")
    other = django_user_model.objects.create_user(
        "second", password="pw", is_staff=True, is_superuser=True
    )
    clients = []
    for user in (staff, other):
        client = Client()
        client.force_login(user)
        clients.append(client)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def press(client: Client) -> None:
        try:
            barrier.wait()
            statuses.append(act(client, saga, "retry").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200, 409]
    assert OperatorAction.objects.filter(saga=saga).count() == 1
    assert SagaInstance.objects.get(id=saga.id).version == saga.version + 1


def test_a_refused_form_post_is_a_409_page_with_the_reason(staff_client):
    saga = make("completed")
    url = reverse("saga-action", args=[saga.id, "retry"])
    response = staff_client.post(url, {"version": saga.version})
    assert response.status_code == 409
    html = response.content.decode()
    assert re.search(
        r'id="action-refusal"[^>]*role="alert">Refused \(409\): Saga is completed; '
        r"only a failed saga can be retried",
        html,
    ), html


def test_an_applied_form_post_redirects_to_the_page_with_the_outcome(staff_client):
    saga = make("failed_forward")
    url = reverse("saga-action", args=[saga.id, "retry"])
    response = staff_client.post(url, {"version": saga.version}, follow=True)
    assert response.redirect_chain[-1] == (reverse("saga-detail", args=[saga.id]), 302)
    assert "Retry applied: the saga is running" in response.content.decode()


def test_a_user_without_the_permission_sees_no_button_and_gets_403(user_with):
    client = user_with(name="readonly")
    saga = make("failed_compensating")
    panel = embedded(client.get(reverse("saga-detail", args=[saga.id])), "operator-data")
    assert panel["actions"] == [] and panel["unavailable"] == [] and not panel["may_act"]
    for action in ACTIONS:
        response = act(client, saga, action, **post_data(saga, action))
        assert response.status_code == 403, action
        assert "lacks the permission sagas." in response.json()["detail"]
    html_post = client.post(reverse("saga-action", args=[saga.id, "retry"]), {"version": 1})
    assert html_post.status_code == 403
    assert not OperatorAction.objects.exists()


def test_each_action_needs_its_own_permission(user_with):
    client = user_with("retry_saga")
    saga = make("failed_compensating")
    panel = client.get(reverse("saga-operator", args=[saga.id])).json()
    assert [a["name"] for a in panel["actions"]] == ["retry"]
    assert act(client, saga, "skip", reason="done by hand").status_code == 403
    edit = act(client, saga, "retry_with_input", reason="x", input="{}")
    assert edit.status_code == 403 and "edit_saga_input" in edit.json()["detail"]
    diff = client.post(reverse("saga-input-diff", args=[saga.id]), {"input": "{}"})
    assert diff.status_code == 403
    assert act(client, saga, "retry").status_code == 200


def test_actions_need_the_csrf_token(staff):
    saga = make("failed_forward")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    strict.get(reverse("saga-detail", args=[saga.id]))  # sets the csrftoken cookie
    url = reverse("saga-action", args=[saga.id, "retry"])
    refused = strict.post(url, {"version": saga.version}, **JSON)
    assert refused.status_code == 403 and not OperatorAction.objects.exists()
    token = strict.cookies["csrftoken"].value
    accepted = strict.post(url, {"version": saga.version}, HTTP_X_CSRFTOKEN=token, **JSON)
    assert accepted.status_code == 200
    diff_url = reverse("saga-input-diff", args=[saga.id])
    assert strict.post(diff_url, {"input": "{}"}).status_code == 403


def test_an_action_that_overrides_the_orchestrator_needs_a_reason(staff_client):
    saga = make("failed_compensating")
    response = act(staff_client, saga, "skip", reason="   ")
    # a validation error, answered as the API answers one (it answered 400)
    assert response.status_code == 422 and response.json()["field"] == "reason"
    assert "needs a reason" in response.json()["detail"]
    assert not OperatorAction.objects.exists()
    assert act(staff_client, saga, "skip", reason="refunded by hand").status_code == 200


def test_bad_requests_say_what_was_wrong(staff_client):
    saga = make("failed_forward")
    url = reverse("saga-action", args=[saga.id, "retry"])
    lost = staff_client.post(url, {}, **JSON)
    assert lost.status_code == 422 and "lost the saga's version" in lost.json()["detail"]
    long = act(staff_client, saga, "retry", reason="x" * 2001)
    assert long.status_code == 422 and long.json()["field"] == "reason"
    unknown = staff_client.post(reverse("saga-action", args=[saga.id, "explode"]), {}, **JSON)
    assert unknown.status_code == 404
    missing = reverse("saga-action", args=["00000000-0000-0000-0000-000000000000", "retry"])
    assert staff_client.post(missing, {"version": 1}, **JSON).status_code == 404
    assert staff_client.get(url).status_code == 405
    assert not OperatorAction.objects.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"refuse_ship": tru}', "not valid JSON: Expecting value (line 1, column 17)"),
        ("[1, 2]", "must be a JSON object ({...}), not an array"),
        ('"text"', "not a string"),
        ('{"amount": NaN}', "NaN is not a JSON value"),
        ("", "not valid JSON"),
    ],
)
def test_an_edited_input_that_is_not_a_json_object_is_refused(staff_client, text, message):
    saga = make("failed_compensating")
    response = act(staff_client, saga, "retry_with_input", reason="fix", input=text)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    diff = staff_client.post(reverse("saga-input-diff", args=[saga.id]), {"input": text})
    assert diff.status_code == 422 and message in diff.json()["detail"]
    assert not OperatorAction.objects.exists()
    assert SagaInstance.objects.get(id=saga.id).input == {"refuse_ship": True}


def nested(depth: int, kind: str = "object") -> str:
    """JSON text `depth` levels deep, written out: json.dumps itself cannot go that deep."""
    opening, closing = ('{"a": ', "}") if kind == "object" else ("[", "]")
    return "{" + '"deep": ' + opening * depth + "1" + closing * depth + "}"


@pytest.mark.parametrize(
    "text, message",
    [
        # Past the interpreter's recursion limit: json.loads raised RecursionError (a 500).
        (nested(5000), "nested too deeply to read"),
        (nested(5000, "array"), "nested too deeply to read"),
        # Read, but deeper than an input may be: the preview answered 200 with all of it in
        # its diff; now refused where it enters, as the API's parser does.
        (nested(900), "nested more than 64 levels deep"),
        ('{"n": ' + "9" * 5000 + "}", "not valid JSON: Exceeds the limit"),  # never a 500
    ],
)
def test_an_edited_input_too_deep_or_too_long_to_read_is_a_422(staff_client, text, message):
    saga = make("failed_compensating")
    diff = staff_client.post(reverse("saga-input-diff", args=[saga.id]), {"input": text})
    assert diff.status_code == 422, diff.content[:300]
    assert message in diff.json()["detail"] and diff.json()["field"] == "input"
    response = act(staff_client, saga, "retry_with_input", reason="fix", input=text)
    assert response.status_code == 422, response.content[:300]
    assert message in response.json()["detail"]
    assert not OperatorAction.objects.exists()
    assert SagaInstance.objects.get(id=saga.id).input == {"refuse_ship": True}


def test_an_edited_input_too_deep_is_a_422_page_for_a_plain_form_post(staff_client):
    saga = make("failed_compensating")
    url = reverse("saga-action", args=[saga.id, "retry_with_input"])
    data = {"version": saga.version, "reason": "fix", "input": nested(5000)}
    response = staff_client.post(url, data)
    assert response.status_code == 422
    assert "nested too deeply to read" in response.content.decode()


def test_the_diff_preview_is_the_service_layers_diff(staff_client):
    saga = make("failed_compensating")
    url = reverse("saga-input-diff", args=[saga.id])
    edited = {"refuse_ship": False, "note": "carrier fixed"}
    body = staff_client.post(url, {"input": json.dumps(edited)}).json()
    assert body["problem"] == "" and body["version"] == saga.version
    assert body["changes"] == [
        {"path": "note", "op": "added", "before": None, "after": "carrier fixed"},
        {"path": "refuse_ship", "op": "changed", "before": True, "after": False},
    ]
    same = staff_client.post(url, {"input": json.dumps(saga.input)}).json()
    assert same["changes"] == [] and "same as the current one" in same["problem"]


def test_retry_with_edited_input_stores_the_diff_and_the_page_shows_it(
    staff_client, settings, monkeypatch
):
    settings.JAEGER_UI_URL = "http://jaeger.example:16686"
    saga = make("failed_compensating")
    works["refund"] = True
    edited = {"refuse_ship": True, "carrier": "backup"}
    response = act(
        staff_client, saga, "retry_with_input", reason="use the backup", input=json.dumps(edited)
    )
    assert response.status_code == 200, response.content
    record = OperatorAction.objects.get(saga=saga)
    assert record.detail["input_diff"] == [
        {"path": "carrier", "op": "added", "before": None, "after": "backup"}
    ]
    assert SagaInstance.objects.get(id=saga.id).input == edited
    # Set after the action's span: the page reads it, no provider is made with it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    panel = embedded(staff_client.get(reverse("saga-detail", args=[saga.id])), "operator-data")
    entry = panel["audit"][0]
    assert entry["input_diff"] == record.detail["input_diff"]
    assert (entry["actor"], entry["action"], entry["reason"]) == (
        "operator",
        "retry_with_input",
        "use the backup",
    )
    assert (entry["status_before"], entry["status_after"]) == ("failed", "compensating")
    assert (entry["version_before"], entry["version_after"]) == (saga.version, saga.version + 1)
    assert entry["outcome"] == "applied"
    assert entry["trace_id"] == record.trace_id and len(record.trace_id) == 32
    assert entry["trace_url"] == f"http://jaeger.example:16686/trace/{record.trace_id}"
    assert panel["input"] == edited


def test_the_operator_state_is_staff_only(client, visitor):
    saga = make("failed_forward")
    url = reverse("saga-operator", args=[saga.id])
    assert client.get(url).status_code == 302
    client.force_login(visitor)
    assert client.get(url).status_code == 302
    assert client.post(reverse("saga-action", args=[saga.id, "retry"]), {}).status_code == 302
