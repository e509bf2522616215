"""POST /api/sagas/{id}/restart: a declined order started again, with a new card, as a new
order saga: 201 with it, 200 with the same one when asked again, and the usual 4xx."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from sagas.engine.runner import Outcome
from sagas.engine.state import ErrorInfo
from sagas.models import OperatorAction
from tests.factories import start
from tests.states import ran

pytestmark = pytest.mark.django_db

DECLINED = {"sku": "SKU-API", "qty": 1, "amount": 5000, "country": "FR"}
NEW_CARD = {**DECLINED, "amount": 50}


def client_with(*scopes: str) -> Client:
    out = StringIO()
    args = [a for scope in scopes for a in ("--scope", scope)]
    call_command("create_api_token", f"t-{'-'.join(scopes)}", *args, stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


def post(client: Client, path: str, body: object):
    return client.post(path, json.dumps(body), content_type="application/json")


def declined_order():
    """An order whose card was declined at charge_payment: compensated."""
    saga = start("order", DECLINED, correlation_id="ord-api-1")
    refusal = ErrorInfo("sagas.demo.participants.Declined", "card declined")
    return ran(
        saga,
        failing={"charge_payment": Outcome("failed", time.time(), error=refusal, business=True)},
    )


def test_a_declined_order_starts_again_as_a_new_order():
    old = declined_order()
    assert old.status == "compensated" and old.compensation_cause == "refusal"
    ops = client_with("start", "operate", "read")
    url = f"/api/sagas/{old.id}/restart"
    r = post(ops, url, {"input": NEW_CARD, "reason": "customer updated the card"})
    assert r.status_code == 201, r.content
    new = r.json()
    assert new["id"] != str(old.id) and new["type"] == "order" and new["status"] == "running"
    assert new["input"] == NEW_CARD and new["correlation_id"] == "ord-api-1"
    assert new["events"][0]["type"] == "saga_started"
    assert new["events"][0]["payload"]["restarted_from"] == str(old.id)
    old_now = ops.get(f"/api/sagas/{old.id}").json()
    assert old_now["status"] == "compensated" and old_now["version"] == old.version
    restart_event = old_now["events"][-1]
    assert restart_event["type"] == "operator_action"
    assert restart_event["payload"]["new_saga"] == new["id"]
    # asked again (a client's retry, a double click): the same new saga, with 200
    again = post(ops, url, {"input": NEW_CARD, "reason": "customer updated the card"})
    assert again.status_code == 200 and again.json()["id"] == new["id"]
    assert OperatorAction.objects.filter(saga=old, action="restart").count() == 1


def test_restart_refusals_say_what_was_wrong():
    old = declined_order()
    ops = client_with("start", "operate", "read")
    url = f"/api/sagas/{old.id}/restart"
    missing = post(ops, url, {"input": NEW_CARD})
    assert missing.status_code == 422 and "reason" in missing.json()["detail"]
    empty = post(ops, url, {"input": NEW_CARD, "reason": " "})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "reason"
    bad = post(ops, url, {"input": {**NEW_CARD, "qty": 0}, "reason": "x"})
    assert bad.status_code == 422 and "input.qty" in bad.json()["detail"]
    extra = post(ops, url, {"input": NEW_CARD, "reason": "x", "version": 3})
    assert extra.status_code == 422
    nobody = post(
        ops,
        "/api/sagas/00000000-0000-0000-0000-000000000000/restart",
        {
            "input": NEW_CARD,
            "reason": "x",
        },
    )
    assert nobody.status_code == 404
    running = start("order", NEW_CARD)
    refused = post(ops, f"/api/sagas/{running.id}/restart", {"input": NEW_CARD, "reason": "x"})
    assert refused.status_code == 409 and "could happen twice" in refused.json()["detail"]
    # starting again is starting a saga and editing an input: both scopes
    for scopes in (("operate", "read"), ("start", "read")):
        r = post(client_with(*scopes), url, {"input": NEW_CARD, "reason": "x"})
        assert r.status_code == 403, scopes
    assert not OperatorAction.objects.exists()


def test_the_schema_lists_restart():
    schema = Client().get("/api/openapi.json").json()
    operation = schema["paths"]["/api/sagas/{saga_id}/restart"]["post"]
    assert {"200", "201", "404", "409", "422"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/RestartIn")
    restart_in = schema["components"]["schemas"]["RestartIn"]
    assert set(restart_in["required"]) == {"input", "reason"}
