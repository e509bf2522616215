"""The Problems page: the groups with their figures, strict filters, triage only for those
allowed (and through CSRF), the sagas of one group on the list and in a bulk selection,
the overview's top problems, and the live socket."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from dashboard import selection
from dashboard.overview import compute
from sagas.models import Problem, ProblemChange
from tests.pages import embedded
from tests.repairable import defined, make
from tests.sockets import communicator, run

# The worker claims by the database clock, which stands still inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20  # seconds a frame may take on a busy machine; a bound, not a measurement


@pytest.fixture
def failures():
    with defined():
        stuck = [make("failed_compensating") for _ in range(3)]
        make("failed_forward")
        make("completed")
        yield stuck


def test_the_page_lists_groups_most_open_first(staff_client, failures):
    response = staff_client.get(reverse("problems"))
    assert response.status_code == 200
    groups = embedded(response, "problems-data")["problems"]
    assert [(g["step"], g["open_count"]) for g in groups] == [("charge", 3), ("notify", 1)]
    assert embedded(response, "problems-can-triage") is True


@pytest.mark.parametrize(
    "params, field", [({"status": "gone"}, "status"), ({"colour": "red"}, "colour")]
)
def test_bad_filters_are_a_400_naming_the_field(staff_client, params, field):
    response = staff_client.get(reverse("problems"), params)
    assert response.status_code == 400
    assert f"<code>{field}</code>" in response.content.decode()


def test_the_filters_narrow_the_groups(staff_client, failures):
    page = staff_client.get(reverse("problems"), {"step": "notify", "status": "open"})
    assert [g["step"] for g in embedded(page, "problems-data")["problems"]] == ["notify"]


def test_the_list_shows_the_sagas_of_one_group(staff_client, failures):
    problem = Problem.objects.get(step="charge")
    page = staff_client.get(reverse("saga-list"), {"problem": problem.id})
    ids = set(re.findall(r'<tr data-id="([0-9a-f-]+)"', page.content.decode()))
    assert ids == {str(s.id) for s in failures}
    assert "repairable.charge" in page.content.decode()
    bad = staff_client.get(reverse("saga-list"), {"problem": "x1"})
    assert bad.status_code == 400


def test_a_groups_sagas_are_a_bulk_selection(failures):
    problem = Problem.objects.get(step="charge")
    chosen = selection.from_post(
        QueryDict(f"scope=filter&filter=problem%3D{problem.id}%26status%3Dfailed")
    )
    assert {s.id for s in chosen.sagas} == {s.id for s in failures}
    assert chosen.stored == {"status": "failed", "problem": problem.id}
    assert chosen.label == f"every saga with status failed in problem #{problem.id}"


def test_triage_from_the_page_is_audited(staff_client, failures):
    problem = Problem.objects.get(step="notify")
    url = reverse("problem-triage", args=[problem.id, "snooze"])
    answer = staff_client.post(url, {"snooze": "24h"})
    assert answer.status_code == 200 and answer.json()["problem"]["status"] == "snoozed"
    refused = staff_client.post(url, {"snooze": "forever"})
    assert (
        refused.status_code == 400 and "snooze must be one of" in refused.json()["detail"].lower()
    )
    assert staff_client.post(reverse("problem-triage", args=[10**9, "resolve"])).status_code == 404
    assert [c.action for c in ProblemChange.objects.all()] == ["snooze"]


def test_triage_needs_the_permission_and_the_csrf_token(failures, django_user_model):
    problem = Problem.objects.get(step="notify")
    url = reverse("problem-triage", args=[problem.id, "resolve"])
    viewer = django_user_model.objects.create_user("viewer", password="pw-v-123", is_staff=True)
    client = Client()
    client.force_login(viewer)
    page = client.get(reverse("problems"))
    assert embedded(page, "problems-can-triage") is False
    assert client.post(url).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="triage_problem"))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(django_user_model.objects.get(id=viewer.id))
    assert strict.post(url).status_code == 403  # no CSRF token
    assert Problem.objects.get(id=problem.id).status == "open"
    client = Client()
    client.force_login(django_user_model.objects.get(id=viewer.id))
    assert client.post(url).status_code == 200
    assert Problem.objects.get(id=problem.id).status == "resolved"


def test_the_overview_shows_the_top_open_problems(failures):
    top = compute()["problems"]
    assert [(p["step"], p["open_count"]) for p in top] == [("charge", 3), ("notify", 1)]


def test_the_live_socket_sends_the_groups_and_refuses_bad_filters(operator, failures):
    async def scenario():
        ws = communicator("/ws/problems/?step=charge", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        frame = await ws.receive_json_from(timeout=WAIT)
        assert frame["type"] == "problems"
        assert [(p["step"], p["open_count"]) for p in frame["problems"]] == [("charge", 3)]
        await ws.disconnect()
        bad = communicator("/ws/problems/?status=gone", operator)
        assert (await bad.connect(timeout=WAIT))[0]
        error = await bad.receive_json_from(timeout=WAIT)
        assert error["type"] == "error" and "status" in error["error"]
        await bad.disconnect()

    run(scenario)
