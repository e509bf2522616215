"""Bulk actions from the list page: the count and the preview cover the whole filter (not
the page on screen), the operation is tracked saga by saga, and only a user with the bulk
permission and the action's own one may run it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from sagas.models import BulkItem, BulkOperation, OperatorAction, SagaInstance
from sagas.services import bulk
from sagas.statuses import SagaStatus
from tests.factories import settle, worker
from tests.pages import embedded
from tests.repairable import defined, make, works

# A worker runs here: it claims with the database clock, which a test-wide transaction
# would freeze.
pytestmark = pytest.mark.django_db(transaction=True)
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def repairable():
    with defined():
        yield


@pytest.fixture
def limited(django_user_model):
    def make_client(*codenames: str) -> Client:
        user = django_user_model.objects.create_user("limited", password="pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(user)
        return client

    return make_client


def failed(n: int) -> list[SagaInstance]:
    return [make("failed_compensating", correlation_id=f"stuck-{i}") for i in range(n)]


def by_filter(action: str, filter: str, **more) -> dict:
    return {"action": action, "scope": "filter", "filter": filter, **more}


def bulk_options(html: str) -> list[str]:
    select = re.search(r'<select name="action" id="bulk-action">(.*?)</select>', html, re.S)
    return re.findall(r'<option value="(\w+)"', select.group(1))


def carry_out() -> None:
    while bulk.work(limit=100):
        pass


def test_the_list_counts_every_saga_the_filter_matches_not_only_the_page(staff_client, settings):
    settings.SAGASCOPE_LIST_PAGE_SIZE = 2
    failed(3)
    make("completed")
    response = staff_client.get(reverse("saga-list"), {"status": "failed"})
    html = response.content.decode()
    assert len(re.findall(r'<input type="checkbox" name="ids"', html)) == 2  # one page
    assert re.search(r'<strong id="bulk-matching">3</strong> sagas that match', html)
    assert 'name="filter" value="status=failed"' in html
    options = bulk_options(html)
    # retry_with_input is one saga's decision, never a bulk action.
    assert options == ["retry", "resume", "compensate", "cancel", "skip"]
    assert embedded(response, "list-config")["bulk"] is True


def test_past_count_shown_the_bulk_bar_says_more_and_the_preview_counts_exactly(
    staff_client, monkeypatch
):
    monkeypatch.setattr("dashboard.selection.COUNT_SHOWN", 2)  # stands in for 1,000
    failed(3)
    html = staff_client.get(reverse("saga-list"), {"status": "failed"}).content.decode()
    assert re.search(r'<strong id="bulk-matching">2\+</strong> sagas that match', html)
    preview = staff_client.post(
        reverse("bulk-preview"), by_filter("retry", "status=failed"), **JSON
    ).json()
    assert preview["total"] == 3 and preview["applicable"] == 3


def test_a_read_only_user_sees_no_bulk_controls(limited):
    client = limited()
    failed(1)
    response = client.get(reverse("saga-list"))
    html = response.content.decode()
    assert 'id="bulk-form"' not in html and 'name="ids"' not in html
    assert embedded(response, "list-config")["bulk"] is False


def test_bulk_controls_need_the_bulk_permission(limited):
    client = limited("retry_saga")
    failed(1)
    assert 'id="bulk-form"' not in client.get(reverse("saga-list")).content.decode()


def test_only_the_actions_the_user_may_take_are_offered(limited):
    client = limited("retry_saga", "bulk_operate")
    failed(1)
    html = client.get(reverse("saga-list")).content.decode()
    assert bulk_options(html) == ["retry"]


def test_the_preview_counts_by_status_and_says_what_it_skips_and_why(staff_client):
    stuck = failed(2)
    done = make("completed")
    response = staff_client.post(
        reverse("bulk-preview"), by_filter("retry", "type=repairable"), **JSON
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == 3 and body["applicable"] == 2
    assert body["by_status"] == {"failed": 2, "completed": 1}
    assert body["skipped"] == [
        {
            "reason": "saga is completed; only a failed saga can be retried",
            "count": 1,
            "examples": [str(done.id)],
        }
    ]
    assert body["selection"] == "every saga of type repairable"
    assert body["label"] == "Retry"
    ticked = staff_client.post(
        reverse("bulk-preview"),
        {"action": "retry", "scope": "ids", "ids": [str(stuck[0].id)]},
        **JSON,
    ).json()
    assert (ticked["total"], ticked["applicable"], ticked["selection"]) == (
        1,
        1,
        "the 1 ticked saga",
    )
    assert not OperatorAction.objects.exists()  # a preview changes nothing


def test_a_bulk_retry_of_the_whole_filter_is_tracked_saga_by_saga(staff_client, settings):
    settings.SAGASCOPE_LIST_PAGE_SIZE = 2
    stuck = failed(3)
    done = make("completed")
    response = staff_client.post(
        reverse("bulk-start"),
        by_filter("retry", "type=repairable&cursor=ignored", reason="payments are back"),
        **JSON,
    )
    assert response.status_code == 400  # a cursor the list never made is still a bad filter
    response = staff_client.post(
        reverse("bulk-start"),
        by_filter("retry", "type=repairable", reason="payments are back"),
        **JSON,
    )
    assert response.status_code == 201, response.content
    operation = BulkOperation.objects.get()
    assert response.json() == {
        "id": operation.id,
        "url": reverse("bulk-operation", args=[operation.id]),
        "total": 4,
    }
    assert operation.selection == {"type": "repairable"}
    assert (operation.actor, operation.reason, operation.total) == (
        "operator",
        "payments are back",
        4,
    )
    page = staff_client.get(reverse("bulk-operation", args=[operation.id]))
    data = embedded(page, "bulk-data")
    assert data["status"] == "running" and data["done"] == 0
    assert data["outcomes"]["pending"] == 4 and len(data["items"]) == 4
    assert data["selection"] == "every saga with type = repairable"

    works["refund"] = True
    carry_out()
    progress = staff_client.get(reverse("bulk-progress", args=[operation.id])).json()
    assert progress["status"] == "done" and progress["done"] == 4
    assert progress["outcomes"] == {"pending": 0, "applied": 3, "skipped": 1, "failed": 0}
    items = {i["saga"]: i for i in progress["items"]}
    assert {items[str(s.id)]["outcome"] for s in stuck} == {"applied"}
    assert items[str(done.id)]["outcome"] == "skipped"
    assert "only a failed saga can be retried" in items[str(done.id)]["message"]
    assert items[str(stuck[0].id)]["correlation_id"] == "stuck-0"
    assert progress["finished_at"]
    settle(worker())
    assert {s.status for s in SagaInstance.objects.filter(id__in=[s.id for s in stuck])} == {
        SagaStatus.COMPENSATED
    }
    listed = staff_client.get(reverse("bulk-list")).content.decode()
    assert f'data-operation="{operation.id}"' in listed


def test_starting_the_same_bulk_action_twice_acts_once_per_saga(staff_client):
    stuck = failed(2)
    for _ in range(2):
        response = staff_client.post(
            reverse("bulk-start"), by_filter("resume", "status=failed"), **JSON
        )
        assert response.status_code == 201
    carry_out()
    for saga in stuck:
        assert OperatorAction.objects.filter(saga=saga).count() == 1
    outcomes = sorted(BulkItem.objects.values_list("outcome", flat=True))
    assert outcomes == ["applied", "applied", "skipped", "skipped"]


def test_bulk_actions_need_both_permissions(limited):
    client = limited("retry_saga")
    failed(1)
    for name in ("bulk-preview", "bulk-start"):
        response = client.post(reverse(name), by_filter("retry", ""), **JSON)
        assert response.status_code == 403
        assert "bulk_operate" in response.json()["detail"]
    assert not BulkOperation.objects.exists()


def test_bulk_actions_need_the_actions_own_permission(limited):
    client = limited("bulk_operate", "retry_saga")
    failed(1)
    response = client.post(reverse("bulk-start"), by_filter("skip", "", reason="x"), **JSON)
    assert response.status_code == 403 and "skip_step" in response.json()["detail"]
    assert client.post(reverse("bulk-start"), by_filter("retry", ""), **JSON).status_code == 201


def test_bulk_posts_need_the_csrf_token(staff):
    failed(1)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    for name in ("bulk-preview", "bulk-start"):
        assert strict.post(reverse(name), by_filter("retry", ""), **JSON).status_code == 403
    assert not BulkOperation.objects.exists()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"action": "explode", "scope": "filter", "filter": ""}, "action", "Unknown action"),
        (
            {"action": "retry", "scope": "filter", "filter": "status=sleeping"},
            "status",
            "must be one",
        ),
        ({"action": "retry", "scope": "filter", "filter": "colour=blue"}, "colour", "colour"),
        ({"action": "retry", "scope": "ids"}, "ids", "No saga is ticked"),
        ({"action": "retry", "scope": "ids", "ids": "nope"}, "ids", "is not a saga id"),
        ({"action": "retry"}, "scope", "Choose the ticked sagas"),
        ({"action": "retry_with_input", "scope": "filter", "filter": ""}, None, "not a bulk"),
    ],
)
def test_bad_bulk_requests_say_what_was_wrong(staff_client, data, field, message):
    for name in ("bulk-preview", "bulk-start"):
        response = staff_client.post(reverse(name), data, **JSON)
        assert response.status_code == 400, response.content
        assert message in response.json()["detail"]
        assert response.json().get("field") == field
    assert not BulkOperation.objects.exists()


def test_a_bulk_compensate_needs_a_reason(staff_client):
    make("running")
    response = staff_client.post(reverse("bulk-start"), by_filter("compensate", ""), **JSON)
    assert response.status_code == 422 and "needs a reason" in response.json()["detail"]
    assert not BulkOperation.objects.exists()


def test_a_bulk_reason_meets_the_limits_of_a_single_actions_reason(staff_client):
    make("running")
    for reason, words in (("x" * 2001, "longer than 2000"), ("by hand\x00", "NUL")):
        data = by_filter("compensate", "", reason=reason)
        response = staff_client.post(reverse("bulk-start"), data, **JSON)
        assert response.status_code == 422 and words in response.json()["detail"]
        assert response.json()["field"] == "reason"
    assert not BulkOperation.objects.exists()


def test_bulk_pages_are_staff_only(client, visitor):
    operation = BulkOperation.objects.create(action="retry", actor="someone", total=0)
    urls = [
        reverse("bulk-list"),
        reverse("bulk-operation", args=[operation.id]),
        reverse("bulk-progress", args=[operation.id]),
    ]
    client.force_login(visitor)
    for url in urls:
        assert client.get(url).status_code == 302
    assert client.post(reverse("bulk-preview"), {}).status_code == 302
