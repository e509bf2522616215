"""The pages: staff only, strict filters in the URL, escaped saga data, the CSP header and
the trace link. Operator actions: test_actions.py and test_bulk.py."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sagas.models import OutboxMessage, SagaInstance, StepAttempt
from tests.factories import start
from tests.pages import EXTREME_TIMES, ODD_OFFSET, embedded
from tests.states import outcome_of, ran

pytestmark = pytest.mark.django_db

PAGES = ["home", "saga-list", "outbox", "bulk-list", "problems"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_need_a_staff_login(client, name, django_user_model):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    assert client.get(reverse(name)).status_code == 302


def test_detail_needs_a_staff_login(client):
    saga = start("ledger", {})
    assert client.get(reverse("saga-detail", args=[saga.id])).status_code == 302


@pytest.mark.parametrize("name", [*PAGES, "login"])
def test_every_page_forbids_inline_script(staff_client, name):
    policy = staff_client.get(reverse(name))["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.parametrize("name", [*PAGES, "login"])
def test_pages_have_no_inline_script(staff_client, name):
    html = staff_client.get(reverse(name)).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="' in tag or 'type="application/json"' in tag, tag


def test_the_list_filters_by_type_status_search_and_time(staff_client):
    a = start("ledger", {}, correlation_id="order-1")
    b = start("ledger", {"fail_at": "a"}, correlation_id="order-2")
    ran(a)
    ran(b, failing={"a": outcome_of(b, "a")})
    SagaInstance.objects.filter(id=a.id).update(created_at=timezone.now() - timedelta(days=3))

    def ids(**params):
        response = staff_client.get(reverse("saga-list"), params)
        assert response.status_code == 200, response.content
        return re.findall(r'<tr data-id="([0-9a-f-]+)"', response.content.decode())

    assert ids() == [str(b.id), str(a.id)]
    assert ids(status="compensated") == [str(b.id)]
    assert ids(type="ledger", status="completed") == [str(a.id)]
    assert ids(q="order-1") == [str(a.id)]
    assert ids(q=str(b.id).upper()) == [str(b.id)]
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert ids(**{"from": since}) == [str(b.id)]
    assert ids(to=since) == [str(a.id)]


def test_the_list_pages_by_keyset_and_links_keep_the_filters(staff_client, settings):
    settings.SAGASCOPE_LIST_PAGE_SIZE = 2
    sagas = [start("ledger", {}, correlation_id=f"k-{n}") for n in range(5)]
    seen: list[str] = []
    url = reverse("saga-list") + "?type=ledger"
    while url:
        html = staff_client.get(url).content.decode()
        seen += re.findall(r'<tr data-id="([0-9a-f-]+)"', html)
        found = re.search(r'<a href="(\?[^"]+)" rel="next">', html)
        url = reverse("saga-list") + found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert "type=ledger" in url
    assert seen == [str(s.id) for s in reversed(sagas)]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "sleeping"}, "status"),
        ({"type": "no_such_type"}, "type"),
        ({"colour": "blue"}, "colour"),
        ({"from": "last tuesday"}, "from"),
        ({"from": "2030-01-02T00:00", "to": "2030-01-01T00:00"}, "from"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_unknown_filter_values_are_a_400_naming_the_field(staff_client, params, field):
    response = staff_client.get(reverse("saga-list"), params)
    assert response.status_code == 400
    assert f"Bad filter <code>{field}</code>" in response.content.decode()


def cursor_at(created: str) -> str:
    """A cursor as the page makes them (base64 of [created_at, id]), at any time."""
    raw = json.dumps([created, "00000000-0000-0000-0000-000000000000"]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("field", ["from", "to"])
@pytest.mark.parametrize("value", [*EXTREME_TIMES, "0001-01-01T00:00", "9999-12-31"])
def test_extreme_dates_are_a_400_naming_the_field(staff_client, field, value):
    start("ledger", {})
    response = staff_client.get(reverse("saga-list"), {field: value})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"Bad filter <code>{field}</code>" in html
    assert "between 1970 and 2999" in html


def test_an_offset_postgresql_refuses_is_turned_into_utc(staff_client):
    saga = start("ledger", {})
    response = staff_client.get(reverse("saga-list"), {"to": ODD_OFFSET})
    assert response.status_code == 200
    assert str(saga.id) not in response.content.decode()  # 2024-12-31T00:01 UTC: before it
    assert "2024-12-31T00:01" in response.content.decode()  # the filter bar shows it in UTC


@pytest.mark.parametrize("created", [*EXTREME_TIMES, ODD_OFFSET, "2025-01-01T00:00"])
def test_a_cursor_at_an_extreme_or_local_time_is_a_400(staff_client, created):
    # The page's cursors hold UTC times; "2025-01-01T00:00" is naive, which Django warns of.
    start("ledger", {})
    response = staff_client.get(reverse("saga-list"), {"cursor": cursor_at(created)})
    assert response.status_code == 400
    assert "Bad filter <code>cursor</code>" in response.content.decode()


def test_dates_at_the_ends_of_the_range_are_taken(staff_client):
    saga = start("ledger", {})
    response = staff_client.get(
        reverse("saga-list"), {"from": "1970-01-01T00:00+14:00", "to": "2999-12-31T23:59-14:00"}
    )
    assert response.status_code == 200 and str(saga.id) in response.content.decode()


def test_a_type_no_longer_defined_still_filters_its_sagas(staff_client):
    saga = start("ledger", {})
    SagaInstance.objects.filter(id=saga.id).update(saga_type="retired")
    response = staff_client.get(reverse("saga-list"), {"type": "retired"})
    assert response.status_code == 200 and str(saga.id) in response.content.decode()


XSS = "<script>alert('xss')</script><img src=x onerror=alert(1)>"


def test_saga_data_is_text_never_markup(staff_client):
    saga = start("ledger", {"note": XSS}, correlation_id=XSS[:100])
    SagaInstance.objects.filter(id=saga.id).update(reason=XSS, status="failed")
    for url in (reverse("saga-detail", args=[saga.id]), reverse("saga-list"), reverse("home")):
        html = staff_client.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, url
    data = embedded(staff_client.get(reverse("saga-detail", args=[saga.id])), "saga-data")
    assert data["input"]["note"] == XSS  # the page still has the exact string to show


def test_detail_embeds_attempts_kinds_events_and_payloads(staff_client):
    saga = start("ledger", {"fail_at": "c"}, correlation_id="corr-7")
    ran(saga, failing={"c": outcome_of(saga, "c")})
    data = embedded(staff_client.get(reverse("saga-detail", args=[saga.id])), "saga-data")
    assert data["saga"]["status"] == "compensated"
    assert data["kinds"]["a"] == {"kind": "compensatable", "compensated": True}
    assert data["kinds"]["d"]["kind"] == "pivot"
    runs = [(a["name"], a["phase"], a["status"]) for a in data["attempts"]]
    assert runs == [
        ("a", "forward", "succeeded"),
        ("b", "forward", "succeeded"),
        ("c", "forward", "failed"),
        ("b", "compensation", "succeeded"),
        ("a", "compensation", "succeeded"),
    ]
    failed = data["attempts"][2]
    assert "refused" in failed["error_message"]
    assert failed["idempotency_key"].endswith(":c:forward:1")
    # The copies of the command the participant absorbed, as recorded on the attempt.
    row = StepAttempt.objects.get(saga=saga, step_name="c", phase="forward")
    assert failed["duplicates"] == getattr(row, "duplicates", None)
    assert data["events"][-1]["type"] == "saga_compensated"
    assert data["last_event_id"] == data["events"][-1]["id"]
    saga.refresh_from_db()  # every saga has a trace (linked only if exported: test_traces.py)
    assert data["trace_id"] == saga.trace_id and len(saga.trace_id) == 32


def test_the_overview_embeds_counts_and_the_sagas_needing_an_operator(staff_client, settings):
    settings.SAGASCOPE_STUCK_AFTER = {"ledger": 60}
    done = ran(start("ledger", {}))
    broken = start("ledger", {})
    stuck = start("ledger", {})
    long_ago = timezone.now() - timedelta(minutes=5)
    SagaInstance.objects.filter(id=broken.id).update(status="failed", reason="refund failed")
    SagaInstance.objects.filter(id=stuck.id).update(updated_at=long_ago)
    data = embedded(staff_client.get(reverse("home")), "overview-data")
    assert data["counts"] == {
        "running": 1,
        "compensating": 0,
        "completed": 1,
        "compensated": 0,
        "failed": 1,
    }
    assert [s["id"] for s in data["failed"]] == [str(broken.id)]
    assert [s["id"] for s in data["stuck"]] == [str(stuck.id)]
    assert data["stuck"][0]["idle_seconds"] >= 299
    ledger = next(t for t in data["types"] if t["type"] == "ledger")
    assert (ledger["completed"], ledger["failed"]) == (1, 1)
    assert ledger["failure_rate"] == 0.5 and ledger["p95_seconds"] is not None
    assert sum(m["started"] for m in data["minutes"]) == 3
    assert sum(m["completed"] for m in data["minutes"]) == 1
    assert data["recent"][0]["id"] in {str(broken.id), str(stuck.id), str(done.id)}


def test_the_outbox_page_counts_pending_messages_per_destination(staff_client):
    now = timezone.now()
    saga = start("ledger", {})
    for n, destination in enumerate(["payment", "payment", "inventory"]):
        OutboxMessage.objects.create(
            saga=saga,
            kind="command",
            destination=destination,
            headers={"traceparent": f"00-{'a' * 32}-{'b' * 16}-01", "n": n},
            created_at=now - timedelta(seconds=60 * (n + 1)),
            available_at=now,
        )
    OutboxMessage.objects.create(
        kind="command", destination="email", status="sent", created_at=now, available_at=now
    )
    data = embedded(staff_client.get(reverse("outbox")), "outbox-data")
    assert data["pending"] == 3
    assert [(d["destination"], d["pending"]) for d in data["destinations"]] == [
        ("payment", 2),
        ("inventory", 1),
    ]
    assert data["oldest_age_seconds"] >= 179
    assert data["messages"][0]["headers"]["traceparent"].startswith("00-aaaa")
