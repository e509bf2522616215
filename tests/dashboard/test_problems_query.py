"""The Problems page narrowed by a query: only the groups holding sagas it matches, each
with how many, linked to exactly those sagas on the list."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from sagas.models import Problem
from tests.pages import embedded
from tests.repairable import defined, make

# The worker claims by the database clock, which stands still inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def failures():
    with defined():
        make("failed_compensating", correlation_id="aq-1")
        make("failed_compensating", correlation_id="fr-1")
        make("failed_compensating", correlation_id="aq-2")
        make("failed_forward", correlation_id="fr-2")
        yield


def groups(client, **params: str) -> list[tuple[str, int, int]]:
    response = client.get(reverse("problems"), params)
    assert response.status_code == 200, response.content
    found = embedded(response, "problems-data")["problems"]
    return [(g["step"], g["open_count"], g.get("matching")) for g in found]


def test_a_query_keeps_the_groups_holding_sagas_it_matches_and_counts_them(staff_client, failures):
    assert groups(staff_client) == [("charge", 3, None), ("notify", 1, None)]
    assert groups(staff_client, q="correlation ~ aq-") == [("charge", 3, 2)]
    assert groups(staff_client, q='error ~ "mail server"') == [("notify", 1, 1)]
    assert groups(staff_client, q="correlation ~ fr- AND status = failed") == [
        ("charge", 3, 1),
        ("notify", 1, 1),
    ]
    assert groups(staff_client, q="correlation = nobody") == []
    assert groups(staff_client, q="correlation ~ aq-", step="notify") == []


def test_the_sagas_a_group_matches_are_listed_with_the_query(staff_client, failures):
    charge = Problem.objects.get(step="charge")
    page = staff_client.get(reverse("saga-list"), {"problem": charge.id, "q": "correlation ~ aq-"})
    ids = re.findall(r'<tr data-id="([0-9a-f-]+)"', page.content.decode())
    assert len(ids) == 2


def test_a_bad_query_is_a_400_naming_it(staff_client):
    response = staff_client.get(reverse("problems"), {"q": "correlation ~"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<code>query</code>: at 14: expected a value after &#x27;~&#x27;" in html
    assert 'value="correlation ~"' in html


def test_the_api_lists_the_groups_a_query_matches(failures):
    out = StringIO()
    call_command("create_api_token", "reader", "--scope", "read", stdout=out)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    found = api.get("/api/problems", {"query": "correlation ~ aq-"}).json()
    assert [(p["step"], p["matching"]) for p in found] == [("charge", 2)]
    assert [p["matching"] for p in api.get("/api/problems").json()] == [None, None]
    bad = api.get("/api/problems", {"query": "correlation ~"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("at 14: expected a value")
