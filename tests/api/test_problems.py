"""GET /api/problems: the failure groups as a service or a script reads them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from tests.repairable import defined, make

# The worker claims by the database clock, which stands still inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def client_with(*scopes: str) -> Client:
    out = StringIO()
    args = [a for scope in scopes for a in ("--scope", scope)]
    call_command("create_api_token", f"t-{'-'.join(scopes) or 'none'}", *args, stdout=out)
    token = next(w for w in out.getvalue().split() if w.startswith("sgs_"))
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def failures():
    with defined():
        for _ in range(3):
            make("failed_compensating")
        make("failed_forward")
        yield


def test_problems_are_listed_most_open_first_with_their_last_day(failures):
    r = client_with("read").get("/api/problems")
    assert r.status_code == 200
    first, second = r.json()
    assert (first["type"], first["step"], first["phase"]) == (
        "repairable",
        "charge",
        "compensation",
    )
    assert (first["open_count"], first["total_count"], first["status"]) == (3, 3, "open")
    assert first["error_type"] == "builtins.ConnectionError"
    assert first["message"] == first["sample"] == "payment service down"
    assert len(first["hourly"]) == 24 and first["hourly"][-1] == 3 and sum(first["hourly"]) == 3
    assert (second["step"], second["open_count"]) == ("notify", 1)


def test_problems_filter_by_type_step_and_status(failures):
    api = client_with("read")
    assert [p["step"] for p in api.get("/api/problems", {"step": "notify"}).json()] == ["notify"]
    assert api.get("/api/problems", {"type": "order"}).json() == []
    assert len(api.get("/api/problems", {"status": "open"}).json()) == 2
    assert api.get("/api/problems", {"status": "resolved"}).json() == []
    assert len(api.get("/api/problems", {"limit": 1}).json()) == 1


@pytest.mark.parametrize(
    "params", [{"status": "gone"}, {"limit": 0}, {"limit": 501}, {"type": "x" * 101}]
)
def test_bad_filters_are_refused_naming_the_field(params):
    r = client_with("read").get("/api/problems", params)
    assert r.status_code == 422
    assert next(iter(params)) in str(r.json())


def test_problems_need_a_token_that_may_read():
    assert Client().get("/api/problems").status_code == 401
    assert client_with("start").get("/api/problems").status_code == 403
