"""The HTTP API contract: start with idempotency, read, list with keyset pages, act, and a
4xx naming the field for every kind of bad input, never a 500."""

from __future__ import annotations

import json
import uuid
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client

from sagas.models import OperatorAction, SagaInstance
from sagas.statuses import SagaStatus
from tests.states import ran

pytestmark = pytest.mark.django_db

ORDER = {"sku": "SKU-API", "qty": 1, "amount": 10, "country": "FR"}


@pytest.fixture
def token():
    out = StringIO()
    call_command("create_api_token", "checkout", "--scope", "start", "--scope", "read", stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def api(token):
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post(client, path, body, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def test_start_returns_201_with_the_saga(api):
    r = post(api, "/api/sagas", {"type": "order", "input": ORDER, "correlation_id": "o-1"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["type"] == "order" and body["status"] == "running"
    assert body["correlation_id"] == "o-1" and body["version"] == 1
    assert body["input"] == ORDER
    assert [e["type"] for e in body["events"]] == ["saga_started"]
    assert SagaInstance.objects.get(id=body["id"]).created_by == "token:checkout"


def test_same_idempotency_key_twice_gives_one_saga_and_another_body_gives_422(api):
    first = post(api, "/api/sagas", {"type": "order", "input": ORDER}, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(api, "/api/sagas", {"type": "order", "input": ORDER}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = post(
        api,
        "/api/sagas",
        {"type": "order", "input": {**ORDER, "qty": 2}},
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert SagaInstance.objects.count() == 1


def test_idempotency_keys_belong_to_the_client_that_sent_them(api):
    out = StringIO()
    call_command("create_api_token", "billing", "--scope", "start", stdout=out)
    other = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    mine = post(api, "/api/sagas", {"type": "order", "input": ORDER}, HTTP_IDEMPOTENCY_KEY="k-1")
    # Another client that picks the same key gets its own saga, and never sees the first one.
    theirs = post(
        other, "/api/sagas", {"type": "order", "input": ORDER}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.content
    assert mine.json()["id"] != theirs.json()["id"]
    # Each client's repeat still returns its own first saga.
    again = post(api, "/api/sagas", {"type": "order", "input": ORDER}, HTTP_IDEMPOTENCY_KEY="k-1")
    theirs_again = post(
        other, "/api/sagas", {"type": "order", "input": ORDER}, HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert (again.status_code, again.json()["id"]) == (200, mine.json()["id"])
    assert (theirs_again.status_code, theirs_again.json()["id"]) == (200, theirs.json()["id"])
    # Another body under one client's key is still a conflict, and names no other client's saga.
    conflict = post(
        other,
        "/api/sagas",
        {"type": "order", "input": {**ORDER, "qty": 2}},
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert conflict.status_code == 422 and mine.json()["id"] not in conflict.json()["detail"]
    assert SagaInstance.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "nope", "input": {}}, "type"),
        ({"type": "order", "input": [1, 2]}, "input"),
        ({"type": "order", "input": "x"}, "input"),
        ({"type": "order", "input": {**ORDER, "qty": 0}}, "input"),
        ({"type": "order", "input": {**ORDER, "country": "France"}}, "input"),
        ({"type": "order"}, "input"),
        ({"input": ORDER}, "type"),
        ({"type": "order", "input": ORDER, "surprise": 1}, "surprise"),
        ({"type": "order", "input": ORDER, "correlation_id": "x" * 201}, "correlation_id"),
    ],
)
def test_bad_start_requests_get_a_4xx_naming_the_field_and_create_nothing(api, body, field):
    r = post(api, "/api/sagas", body)
    assert 400 <= r.status_code < 500, r.content
    payload = r.json()
    assert field in payload["detail"] or field in {e["field"] for e in payload.get("errors", [])}
    assert not SagaInstance.objects.exists()


def test_body_that_is_not_json_or_too_big_is_refused(api, settings):
    r = api.post("/api/sagas", "{not json", content_type="application/json")
    assert r.status_code in (400, 422) and r.json()["detail"]
    big = {"type": "order", "input": {**ORDER, "pad": "x" * 300_000}}
    r = post(api, "/api/sagas", big)
    assert r.status_code == 413 and "larger" in r.json()["detail"]
    settings.SAGASCOPE_MAX_INPUT_BYTES = 100
    r = post(api, "/api/sagas", {"type": "order", "input": {**ORDER, "pad": "x" * 200}})
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    assert not SagaInstance.objects.exists()


def test_get_one_saga_with_steps_and_events_after_it_ran(api):
    saga_id = post(api, "/api/sagas", {"type": "order", "input": ORDER}).json()["id"]
    ran(SagaInstance.objects.get(id=saga_id))
    body = api.get(f"/api/sagas/{saga_id}").json()
    assert body["status"] == "completed"
    assert [s["name"] for s in body["steps"]] == [
        "create_order",
        "reserve_inventory",
        "charge_payment",
        "schedule_shipping",
        "send_confirmation",
    ]
    step = body["steps"][0]
    assert {
        "name",
        "phase",
        "status",
        "attempt",
        "idempotency_key",
        "started_at",
        "finished_at",
        "error",
    } <= set(step)
    assert step["phase"] == "forward" and step["status"] == "succeeded"
    assert body["events"][-1]["type"] == "saga_completed"


def test_bad_uuid_and_unknown_saga(api):
    r = api.get("/api/sagas/not-a-uuid")
    assert r.status_code == 422 and "saga_id" in r.json()["detail"]
    assert api.get(f"/api/sagas/{uuid.uuid4()}").status_code == 404


def test_list_filters_and_keyset_pages(api):
    ids = [
        post(
            api, "/api/sagas", {"type": "order", "input": ORDER, "correlation_id": f"c-{i}"}
        ).json()["id"]
        for i in range(5)
    ]
    first = api.get("/api/sagas?limit=2").json()
    assert [s["id"] for s in first["items"]] == ids[::-1][:2]
    second = api.get(f"/api/sagas?limit=2&cursor={first['next_cursor']}").json()
    third = api.get(f"/api/sagas?limit=2&cursor={second['next_cursor']}").json()
    seen = [s["id"] for page in (first, second, third) for s in page["items"]]
    assert seen == ids[::-1] and third["next_cursor"] is None
    only = api.get("/api/sagas?correlation_id=c-3").json()["items"]
    assert [s["id"] for s in only] == [ids[3]]
    assert api.get("/api/sagas?type=order&status=running").json()["items"]
    assert api.get("/api/sagas?status=completed").json()["items"] == []


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("status=bogus", 422, "status"),
        ("colour=red", 400, "colour"),
        ("cursor=%%%", 400, "cursor"),
        ("limit=0", 400, "limit"),
        ("limit=x", 422, "limit"),
    ],
)
def test_bad_list_queries(api, query, status, field):
    r = api.get(f"/api/sagas?{query}")
    assert r.status_code == status, r.content
    assert field in r.json()["detail"]


def test_unauthenticated_and_bad_tokens_get_401():
    assert Client().get("/api/sagas").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer nope").get("/api/sagas").status_code == 401
    assert post(Client(), "/api/sagas", {"type": "order", "input": ORDER}).status_code == 401


def test_a_token_without_the_scope_gets_403():
    out = StringIO()
    call_command("create_api_token", "reader", "--scope", "read", stdout=out)
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    assert post(reader, "/api/sagas", {"type": "order", "input": ORDER}).status_code == 403
    assert reader.get("/api/sagas").status_code == 200


def failed_saga(api):
    saga_id = post(api, "/api/sagas", {"type": "order", "input": ORDER}).json()["id"]
    SagaInstance.objects.filter(id=saga_id).update(
        status=SagaStatus.FAILED, next_run_at=None, reason="stuck for the test"
    )
    return SagaInstance.objects.get(id=saga_id)


def test_operator_actions_through_the_session_need_csrf_permission_and_version(api):
    saga = failed_saga(api)
    operator = User.objects.create_user("op", password="pw", is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    url = f"/api/sagas/{saga.id}/retry"
    # no CSRF token: refused
    assert post(browser, url, {"version": saga.version}).status_code == 403
    browser.get("/login/")
    csrf = browser.cookies["csrftoken"].value
    # CSRF but no permission: 403
    r = post(browser, url, {"version": saga.version}, HTTP_X_CSRFTOKEN=csrf)
    assert r.status_code == 403 and "retry_saga" in r.json()["detail"]
    operator.user_permissions.add(Permission.objects.get(codename="retry_saga"))
    operator = User.objects.get(pk=operator.pk)
    browser.force_login(operator)
    r = post(browser, url, {"version": saga.version, "reason": "fixed"}, HTTP_X_CSRFTOKEN=csrf)
    assert r.status_code == 200, r.content
    assert r.json()["saga"]["status"] == "running"
    assert r.json()["action"]["actor"] == "op"
    # the same request again: the version moved on, so nothing changes
    again = post(browser, url, {"version": saga.version}, HTTP_X_CSRFTOKEN=csrf)
    assert again.status_code == 409 and "version" in again.json()["detail"]
    assert OperatorAction.objects.filter(saga_id=saga.id).count() == 1


def test_actions_refused_by_state_get_409_and_unknown_actions_422(api):
    saga_id = post(api, "/api/sagas", {"type": "order", "input": ORDER}).json()["id"]
    admin = User.objects.create_superuser("root", password="pw")
    c = Client()
    c.force_login(admin)
    r = post(c, f"/api/sagas/{saga_id}/retry", {"version": 1})
    assert r.status_code == 409 and "only a failed saga" in r.json()["detail"]
    r = post(c, f"/api/sagas/{saga_id}/skip", {"version": 1})
    # a missing reason is a validation error like the others: 422 naming the field
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    assert r.json()["errors"][0]["field"] == "reason"
    r = post(c, f"/api/sagas/{saga_id}/explode", {"version": 1})
    assert r.status_code == 422 and "action" in r.json()["detail"]
    r = post(c, f"/api/sagas/{saga_id}/cancel", {"version": 1})
    assert r.status_code == 422 and "needs a reason" in r.json()["detail"]
    r = post(c, f"/api/sagas/{saga_id}/cancel", {"version": 1, "reason": "customer called"})
    # nothing had run yet, so there is nothing to undo: compensated at once
    assert r.status_code == 200 and r.json()["saga"]["status"] == "compensated"
    assert r.json()["saga"]["reason"] == "cancel by root: customer called"


def test_openapi_schema_lists_every_operation():
    schema = Client().get("/api/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/sagas",
        "/api/sagas/{saga_id}",
        "/api/sagas/{saga_id}/{action}",
        "/api/sagas/{saga_id}/restart",
        "/api/sagas/{saga_id}/history",
        "/api/sagas.csv",
        "/api/replies",
        "/api/bulk/preview",
        "/api/bulk",
        "/api/bulk/{operation_id}",
        "/api/circuits",
        "/api/problems",
        "/api/problems/{problem_id}/{action}",
    }
    assert {"get", "post"} <= set(schema["paths"]["/api/sagas"])


def test_health_and_readiness():
    assert Client().get("/healthz").json() == {"status": "ok"}
    assert Client().get("/readyz").json() == {"status": "ok"}


def test_a_saga_started_in_a_traced_request_continues_that_trace(api):
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = post(
        api,
        "/api/sagas",
        {"type": "order", "input": ORDER},
        HTTP_TRACEPARENT=f"00-{trace_id}-{parent}-01",
    )
    body = r.json()
    assert body["trace_id"] == trace_id
    assert body["trace_url"] == f"http://localhost:16686/trace/{trace_id}"
    assert SagaInstance.objects.get(id=body["id"]).trace_parent_id == parent
    # without a traceparent, or with a malformed one, the saga starts its own trace
    fresh = post(
        api, "/api/sagas", {"type": "order", "input": ORDER}, HTTP_TRACEPARENT="00-garbage"
    ).json()
    assert len(fresh["trace_id"]) == 32 and fresh["trace_id"] != trace_id
