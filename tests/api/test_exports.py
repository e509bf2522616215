"""The API's exports: GET /api/sagas/{id}/history (the service's document, no traceback
ever) and GET /api/sagas.csv (the list's filters, streamed), with token or session."""

from __future__ import annotations

import csv
import io
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

import tests.testapp.sagas
from sagas.services.actions import perform
from sagas.services.actors import Actor
from tests.factories import start
from tests.states import outcome_of, put, ran

pytestmark = pytest.mark.django_db

SERVER_PATH = str(Path(tests.testapp.sagas.__file__).resolve())


def token_client(*scopes: str) -> Client:
    out = StringIO()
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    call_command("create_api_token", f"t-{uuid.uuid4().hex[:8]}", *args, stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


@pytest.fixture
def root():
    return User.objects.create_superuser("root", password="pw-root")


def test_history_with_a_token_has_every_attempt_event_and_action_and_no_traceback(root):
    saga = start("ledger", {"sleep": "not a number"})  # step a crashes: a real traceback
    ran(saga, failing={"a": outcome_of(saga, "a")})
    other = start("ledger", {})
    perform(other.id, "cancel", actor=Actor.of_user(root), version=1, reason="test")
    api = token_client("read")
    body = api.get(f"/api/sagas/{saga.id}/history").json()
    assert body["format"] == "sagascope.history/1" and body["saga"]["id"] == str(saga.id)
    assert body["attempts"] and body["attempts"][0]["error_type"] == "builtins.ValueError"
    assert len(body["events"]) == saga.events.count()
    (action,) = api.get(f"/api/sagas/{other.id}/history").json()["operator_actions"]
    assert action["action"] == "cancel" and action["reason"] == "test"
    session = Client()
    session.force_login(root)  # a superuser, who may read tracebacks on the pages
    for client in (api, session):
        response = client.get(f"/api/sagas/{saga.id}/history")
        assert response.status_code == 200
        assert SERVER_PATH not in response.content.decode()
        assert "traceback" not in response.content.decode().lower()


def test_history_needs_credentials_and_the_read_scope_and_an_existing_saga():
    saga = start("ledger", {})
    assert Client().get(f"/api/sagas/{saga.id}/history").status_code == 401
    refused = token_client("start").get(f"/api/sagas/{saga.id}/history")
    assert refused.status_code == 403 and "scope 'read'" in refused.json()["detail"]
    reader = token_client("read")
    missing = reader.get("/api/sagas/00000000-0000-0000-0000-000000000000/history")
    assert missing.status_code == 404 and "no saga has id" in missing.json()["detail"]
    assert reader.get("/api/sagas/not-a-uuid/history").status_code in (404, 422)


def test_csv_takes_the_lists_filters_and_columns():
    for n in range(3):
        start("ledger", {}, correlation_id=f"ord-{n}")
    failed = start("ledger", {}, correlation_id="=cmd|' /C calc'!A0")
    put(failed, status="failed", reason="@evil")
    api = token_client("read")
    response = api.get("/api/sagas.csv", {"status": "failed", "columns": "correlation_id,reason"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["id", "correlation_id", "reason"],
        [str(failed.id), "'=cmd|' /C calc'!A0", "'@evil"],
    ]
    every = api.get("/api/sagas.csv", {"search": "ord-"})
    assert len(b"".join(every.streaming_content).decode().splitlines()) == 4


def test_csv_takes_a_search_query_as_the_list_does():
    wanted = start("ledger", {"country": "AQ", "amount": 5000})
    start("ledger", {"country": "FR", "amount": 5000})
    start("ledger", {"country": "AQ", "amount": 10})
    api = token_client("read")
    query = 'input.country = "AQ" AND input.amount > 1000'
    response = api.get("/api/sagas.csv", {"query": query})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == [str(wanted.id)]
    listed = api.get("/api/sagas", {"query": query}).json()["items"]
    assert [item["id"] for item in listed] == [str(wanted.id)]
    bad = api.get("/api/sagas.csv", {"query": "input.amount >"})
    assert bad.status_code == 422 and "expected" in bad.json()["detail"]


def test_csv_refuses_what_the_list_refuses_with_json():
    api = token_client("read")
    for params, field in [
        ({"cursor": "x"}, "cursor"),
        ({"colour": "red"}, "colour"),
        ({"columns": "secret"}, "columns"),
        ({"search": "a\x00"}, None),
    ]:
        response = api.get("/api/sagas.csv", params)
        assert response.status_code in (400, 422), (params, response.content)
        assert response["Content-Type"].startswith("application/json")
        if field:
            assert field in response.json()["detail"]
    assert Client().get("/api/sagas.csv").status_code == 401
    assert token_client("start").get("/api/sagas.csv").status_code == 403
