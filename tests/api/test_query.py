"""The search language over the API: `GET /api/sagas?query=...` and bulk actions whose
selection is a query (preview, start, carried out only on the sagas it matches)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from sagas.models import BulkOperation, OperatorAction, SagaInstance
from sagas.services import bulk
from sagas.statuses import SagaStatus
from tests.factories import start

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Client:
    out = StringIO()
    call_command("create_api_token", "reader", "--scope", "read", stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


@pytest.fixture
def sagas() -> dict[str, SagaInstance]:
    made = {
        "aq-big": start("ledger", {"country": "AQ", "amount": 5000}, correlation_id="aq-big"),
        "aq-small": start("ledger", {"country": "AQ", "amount": 50}, correlation_id="aq-small"),
        "fr-big": start("ledger", {"country": "FR", "amount": 9000}, correlation_id="fr-big"),
    }
    SagaInstance.objects.filter(correlation_id__in=["aq-big", "fr-big"]).update(
        status=SagaStatus.FAILED,
        current_step=3,
        next_run_at=None,
        results={"a": None, "b": None, "c": None},
        reason="stuck for the test",
    )
    return made


def listed(api: Client, **params: str) -> list[str]:
    response = api.get("/api/sagas", params)
    assert response.status_code == 200, response.content
    return sorted(item["correlation_id"] for item in response.json()["items"])


def test_the_list_takes_a_query_alone_or_with_the_other_filters(api, sagas):
    assert listed(api, query='input.country = "AQ"') == ["aq-big", "aq-small"]
    assert listed(api, query="input.amount > 1000 AND status = failed") == ["aq-big", "fr-big"]
    assert listed(api, query="input.amount > 1000", status="running") == []
    assert listed(api, query="input.amount < 1000", search="aq-") == ["aq-small"]
    first = api.get("/api/sagas", {"query": "type = ledger", "limit": 2}).json()
    rest = api.get("/api/sagas", {"query": "type = ledger", "cursor": first["next_cursor"]})
    assert len(first["items"]) + len(rest.json()["items"]) == 3


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("input.amount >", "at 15: expected a value after '>'"),
        ("status = lost", "at 10: unknown status 'lost'"),
        ("(" * 50 + "type = x" + ")" * 50, "at 9: brackets and NOTs are nested more than 8 deep"),
        ("type = 'x' ; DROP TABLE sagas_sagainstance", "at 12: expected AND or OR, not ';"),
    ],
)
def test_a_bad_query_is_a_422_with_the_parsers_words(api, sagas, query, words):
    response = api.get("/api/sagas", {"query": query})
    assert response.status_code == 422, response.content
    body = response.json()
    assert words in body["detail"]
    assert body["errors"] == [{"field": "query", "message": body["detail"]}]
    assert SagaInstance.objects.count() == 3


def test_a_query_longer_than_the_limit_is_refused_before_parsing(api):
    response = api.get("/api/sagas", {"query": "type = x AND " * 100 + "type = x"})
    assert response.status_code == 422
    assert "query" in json.dumps(response.json())


def test_the_openapi_schema_documents_the_query(api):
    schema = api.get("/api/openapi.json").json()
    params = {p["name"]: p for p in schema["paths"]["/api/sagas"]["get"]["parameters"]}
    assert params["query"]["in"] == "query"
    assert params["query"]["schema"]["anyOf"][0]["maxLength"] == 1000
    selection = schema["components"]["schemas"]["SelectionIn"]["properties"]
    assert "query" in selection


def test_a_bulk_retry_by_query_previews_and_acts_on_only_what_the_query_matches(sagas):
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    body = {"action": "retry", "selection": {"query": 'input.country = "AQ" AND status = failed'}}
    post = lambda url, data: client.post(url, json.dumps(data), content_type="application/json")  # noqa: E731
    preview = post("/api/bulk/preview", body)
    assert preview.status_code == 200, preview.content
    assert (preview.json()["total"], preview.json()["applicable"]) == (1, 1)
    wide = post("/api/bulk/preview", {**body, "selection": {"query": "type = ledger"}})
    assert (wide.json()["total"], wide.json()["applicable"]) == (3, 2)  # one running: skipped
    bad = post("/api/bulk/preview", {**body, "selection": {"query": "status ="}})
    assert bad.status_code == 422 and "at 9: expected a value after '='" in bad.json()["detail"]

    started = post("/api/bulk", body)
    assert started.status_code == 202, started.content
    operation = BulkOperation.objects.get()
    assert operation.selection == {"query": 'input.country = "AQ" AND status = failed'}
    while bulk.work(limit=100):
        pass
    retried = OperatorAction.objects.filter(action="retry").values_list("saga_id", flat=True)
    assert list(retried) == [sagas["aq-big"].id]
    assert SagaInstance.objects.get(id=sagas["fr-big"].id).status == SagaStatus.FAILED
