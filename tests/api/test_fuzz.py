"""The API fuzzed from its own OpenAPI schema (schemathesis): with a token and without
credentials, every answer is below 500, every 4xx is JSON whose `detail` says what was
wrong, and a refused request starts no saga."""

from __future__ import annotations

from io import StringIO

import pytest
import schemathesis
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from sagas.models import SagaInstance

# schemathesis calls the WSGI application, whose request_finished closes the connection.
pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = schemathesis.Config.from_dict(
    {
        "checks": {
            # A schema-valid body may still be refused by the saga type's own input
            # validation (qty above the stock, an unknown type): the schema cannot say that.
            "positive_data_acceptance": {"enabled": False},
            # 413 is a refusal too: an oversized body is turned away before it is parsed.
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422]
            },
        }
    }
)
# The schema the running app serves, not one built beside it: what clients read is fuzzed.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application(), config=CHECKS)

# Bounded for CI and the same on every run: a failure here is reproducible by rerunning.
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def token() -> str:
    out = StringIO()
    scopes = ["--scope", "start", "--scope", "read", "--scope", "operate"]
    call_command("create_api_token", "fuzzer", *scopes, stdout=out)
    return out.getvalue().strip()


def call_and_check(case: schemathesis.Case, headers: dict[str, str]) -> None:
    before = SagaInstance.objects.count()
    response = case.call(headers=headers)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    # Status codes, content types and bodies as the schema documents them.
    case.validate_response(response, headers=headers)
    if 400 <= response.status_code < 500:
        content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type")
        assert content_type and content_type[0].startswith("application/json"), where
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail.strip(), where
        assert SagaInstance.objects.count() == before, f"a refused request started a saga: {where}"


@schema.parametrize()
@FUZZ
def test_with_a_token(case: schemathesis.Case, token: str) -> None:
    call_and_check(case, {"Authorization": f"Bearer {token}"})


@schema.parametrize()
@FUZZ
def test_without_credentials(case: schemathesis.Case) -> None:
    call_and_check(case, {})


def test_errors_django_answers_before_any_view_are_json_too(client):
    r = client.generic("TRACE", "/api/sagas")
    assert r.status_code == 405 and r["Allow"]
    assert r.json()["detail"] == f"TRACE is not allowed on /api/sagas; use {r['Allow']}"
    r = client.get("/api/no-such-thing")
    assert r.status_code == 404 and "/api/docs" in r.json()["detail"]
    assert client.get("/no-such-page").headers["Content-Type"].startswith("text/html")
