"""The list's search box with a query: the rows it matches, a bad query's error beside the
box (escaped, the text kept), bulk actions over every saga the query matches, and live rows
confirmed by the database."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from dashboard import filters
from dashboard.payloads import list_row
from sagas.models import SagaInstance
from sagas.statuses import SagaStatus
from tests.factories import start

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def sagas() -> dict[str, SagaInstance]:
    made = {
        name: start("ledger", data, correlation_id=name)
        for name, data in {
            "aq-big": {"country": "AQ", "amount": 5000},
            "aq-small": {"country": "AQ", "amount": 50},
            "fr-big": {"country": "FR", "amount": 9000},
        }.items()
    }
    SagaInstance.objects.filter(correlation_id__in=["aq-big", "fr-big"]).update(
        status=SagaStatus.FAILED, current_step=3, next_run_at=None, reason="stuck for the test"
    )
    return made


def listed(client, q: str, **more: str) -> set[str]:
    response = client.get(reverse("saga-list"), {"q": q, **more})
    assert response.status_code == 200, response.content
    ids = set(re.findall(r'<tr data-id="([0-9a-f-]+)"', response.content.decode()))
    return {s.correlation_id for s in SagaInstance.objects.filter(id__in=ids)}


def test_the_box_reads_a_query_when_it_holds_an_operator(staff_client, sagas):
    assert listed(staff_client, 'input.country = "AQ"') == {"aq-big", "aq-small"}
    assert listed(staff_client, "input.amount > 1000", status="failed") == {"aq-big", "fr-big"}
    assert listed(staff_client, "aq-") == {"aq-big", "aq-small"}  # a plain term, as before
    html = staff_client.get(reverse("saga-list"), {"q": "input.amount>1000"}).content.decode()
    assert 'value="input.amount&gt;1000"' in html
    assert re.search(r'<strong id="bulk-matching">2</strong>', html)
    assert 'name="filter" value="q=input.amount%3E1000"' in html


def test_a_bad_query_is_shown_beside_the_box_escaped_with_the_text_kept(staff_client, sagas):
    q = "input.amount > <script>alert(1)</script> AND"
    response = staff_client.get(reverse("saga-list"), {"q": q})
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(r'<p class="error" role="alert" id="search-error">(.*?)</p>', html).group(1)
    assert error == (
        "Bad query at 16: expected a value after &#x27;&gt;&#x27;, not &#x27;&lt;&#x27;"
    )
    assert "<script>alert" not in html
    assert 'value="input.amount &gt; &lt;script&gt;alert(1)&lt;/script&gt; AND"' in html
    assert 'aria-invalid="true"' in html and 'href="#search-help"' in html
    assert '<details id="search-help" class="search-help" open>' in html
    assert 'id="saga-table"' not in html  # no rows under a query that did not run
    echoed = staff_client.get(
        reverse("saga-list"), {"q": 'status = "<img src=x onerror=alert(1)>"'}
    )
    html = echoed.content.decode()
    assert "unknown status &quot;&lt;img src=x onerror=alert(1)&gt;&quot;" in html
    assert "<img src=x" not in html


def test_a_bulk_retry_by_query_from_the_list(staff_client, sagas):
    form = {"action": "retry", "scope": "filter", "filter": urlencode({"q": "input.country = AQ"})}
    preview = staff_client.post(reverse("bulk-preview"), form, **JSON)
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert (body["total"], body["applicable"]) == (2, 1)
    assert body["selection"] == "every saga matching the query 'input.country = AQ'"
    bad = {**form, "filter": urlencode({"q": "input.country = "})}
    refused = staff_client.post(reverse("bulk-preview"), bad, **JSON)
    assert refused.status_code == 400 and "expected a value after '='" in refused.content.decode()


def test_live_rows_of_a_query_list_are_confirmed_by_the_database(sagas):
    query = filters.parse({"q": "input.amount > 1000"})
    rows = [list_row(s) for s in SagaInstance.objects.order_by("correlation_id")]
    assert all(query.matches(row) for row in rows)  # a row alone cannot tell
    kept = query.confirmed(rows)
    assert sorted(row["correlation_id"] for row in kept) == ["aq-big", "fr-big"]
    plain = filters.parse({"q": "aq-"})
    assert plain.confirmed(rows) == rows
