"""GET /api/problems: the failure groups as a service or a script reads them."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from sagas.models import Problem, ProblemChange
from tests.repairable import defined, make

# The worker claims by the database clock, which stands still inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def client_with(*scopes: str) -> Client:
    out = StringIO()
    args = [a for scope in scopes for a in ("--scope", scope)]
    name = f"t-{'-'.join(scopes)}-{uuid.uuid4().hex[:6]}"
    call_command("create_api_token", name, *args, stdout=out)
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


def triager() -> Client:
    return client_with("read", "triage")


def triage(api: Client, problem_id: int, action: str, **body):
    return api.post(
        f"/api/problems/{problem_id}/{action}", json.dumps(body), content_type="application/json"
    )


def test_triage_changes_the_status_and_is_audited(failures):
    problem = Problem.objects.get(step="notify")
    api = triager()
    r = triage(api, problem.id, "resolve")
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["resolved_at"] is not None
    until = (timezone.now() + timedelta(hours=2)).isoformat()
    assert triage(api, problem.id, "snooze", until=until).json()["status"] == "snoozed"
    assert triage(api, problem.id, "snooze", failures=10).json()["snooze_failures"] == 10
    assert triage(api, problem.id, "ignore").json()["status"] == "ignored"
    assert triage(api, problem.id, "reopen").json()["status"] == "open"
    assert triage(api, problem.id, "note", note="mail relay rate-limits us").json()["note"] == (
        "mail relay rate-limits us"
    )
    ticket = "https://tickets.example/OPS-12"
    assert triage(api, problem.id, "ticket", ticket_url=ticket).json()["ticket_url"] == ticket
    changes = list(ProblemChange.objects.filter(problem=problem).order_by("id"))
    assert [(c.action, c.status_before, c.status_after) for c in changes] == [
        ("resolve", "open", "resolved"),
        ("snooze", "resolved", "snoozed"),
        ("snooze", "snoozed", "snoozed"),
        ("ignore", "snoozed", "ignored"),
        ("reopen", "ignored", "open"),
        ("note", "open", "open"),
        ("ticket", "open", "open"),
    ]
    assert len({c.actor for c in changes}) == 1
    assert changes[0].actor.startswith("token:t-read-triage-")


def test_a_problem_can_be_assigned_to_a_staff_user_only(failures, django_user_model):
    django_user_model.objects.create_user("ana", password="pw-ana-1234", is_staff=True)
    django_user_model.objects.create_user("bob", password="pw-bob-1234")
    problem = Problem.objects.get(step="notify")
    api = triager()
    assert triage(api, problem.id, "assign", owner="ana").json()["owner"] == "ana"
    r = triage(api, problem.id, "assign", owner="bob")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "owner"
    assert triage(api, problem.id, "assign", owner="").json()["owner"] is None


@pytest.mark.parametrize(
    "action, body, field",
    [
        ("snooze", {}, "until"),
        ("snooze", {"until": "2001-01-01T00:00:00Z"}, "until"),
        ("snooze", {"failures": 0}, "failures"),
        ("ticket", {"ticket_url": "javascript:alert(1)"}, "ticket_url"),
        ("assign", {}, "owner"),
        ("note", {"note": "x" * 5001}, "note"),
    ],
)
def test_bad_triage_is_refused_naming_the_field(failures, action, body, field):
    problem = Problem.objects.get(step="notify")
    r = triage(triager(), problem.id, action, **body)
    assert r.status_code in (400, 422), r.content
    assert field in str(r.json())
    assert Problem.objects.get(id=problem.id).status == "open"
    assert not ProblemChange.objects.exists()


def test_triage_needs_the_triage_scope_and_an_existing_problem(failures):
    problem = Problem.objects.get(step="notify")
    assert triage(client_with("read", "operate"), problem.id, "resolve").status_code == 403
    assert triage(triager(), 10**9, "resolve").status_code == 404
    assert triage(triager(), problem.id, "delete").status_code == 422
    assert Problem.objects.get(id=problem.id).status == "open"


def test_an_expired_snooze_reads_as_open(failures):
    problem = Problem.objects.get(step="notify")
    Problem.objects.filter(id=problem.id).update(
        status="snoozed", snoozed_until=timezone.now() - timedelta(minutes=1)
    )
    api = client_with("read")
    assert [p["status"] for p in api.get("/api/problems", {"step": "notify"}).json()] == ["open"]
    assert len(api.get("/api/problems", {"status": "open"}).json()) == 2
    assert api.get("/api/problems", {"status": "snoozed"}).json() == []
