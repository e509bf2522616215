"""The Django admin: read-only sagas, the same actions and permissions, an untouchable log."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from sagas.models import BulkOperation, OperatorAction, SagaInstance
from sagas.services import bulk
from sagas.statuses import SagaStatus
from tests.factories import start
from tests.states import put

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:sagas_sagainstance_changelist")


def failed_saga(correlation: str = "adm-1") -> SagaInstance:
    return put(
        start("ledger", {}, correlation_id=correlation),
        status=SagaStatus.FAILED,
        current_step=3,
        attempt=5,
        failures=5,
        next_run_at=None,
        results={"a": None, "b": None, "c": None},
        reason="stuck",
    )


@pytest.fixture
def root():
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def staff(*codenames: str) -> Client:
    user = User.objects.create_user(f"u{len(codenames)}{'-'.join(codenames)}", is_staff=True)
    perms = Permission.objects.filter(
        codename__in=["view_sagainstance", "view_operatoraction", *codenames]
    )
    user.user_permissions.add(*perms)
    client = Client()
    client.force_login(user)
    return client


def test_list_filters_and_search_by_id_or_correlation_id(root):
    saga = failed_saga("order-42")
    start("ledger", {}, correlation_id="order-43")
    page = root.get(CHANGELIST, {"status__exact": "failed"}).content.decode()
    assert str(saga.id) in page and "order-43" not in page
    assert str(saga.id) in root.get(CHANGELIST, {"q": str(saga.id)}).content.decode()
    found = root.get(CHANGELIST, {"q": "order-43"}).content.decode()
    assert "order-43" in found and str(saga.id) not in found
    assert root.get(CHANGELIST, {"q": "not-a-uuid"}).status_code == 200


def test_the_change_page_shows_history_and_changes_nothing(root):
    saga = failed_saga()
    url = reverse("admin:sagas_sagainstance_change", args=[saga.id])
    page = root.get(url).content.decode()
    assert "step attempt" in page.lower() and "saga event" in page.lower()
    root.post(url, {"status": "completed", "reason": "edited by hand"})
    saga.refresh_from_db()
    assert saga.status == SagaStatus.FAILED and saga.reason == "stuck"
    assert (
        root.post(
            reverse("admin:sagas_sagainstance_delete", args=[saga.id]), {"post": "yes"}
        ).status_code
        == 403
    )


def test_one_saga_is_acted_on_at_once_through_the_service_layer(root):
    saga = failed_saga()
    r = root.post(
        CHANGELIST,
        {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(saga.id)]},
        follow=True,
    )
    assert f"retry: applied to saga {saga.id}" in r.content.decode().lower()
    assert OperatorAction.objects.filter(action="retry", actor="root").count() == 1
    assert not BulkOperation.objects.exists()
    done = start("ledger")
    SagaInstance.objects.filter(id=done.id).update(status="completed", next_run_at=None)
    r = root.post(
        CHANGELIST,
        {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(done.id)]},
        follow=True,
    )
    assert r.status_code == 200 and "only a failed saga" in r.content.decode().lower()


def test_several_sagas_start_a_tracked_bulk_operation_that_workers_carry_out(root):
    sagas = [failed_saga(f"r-{i}") for i in range(3)]
    done = start("ledger")
    SagaInstance.objects.filter(id=done.id).update(status="completed", next_run_at=None)
    r = root.post(
        CHANGELIST,
        {
            "action": "action_retry",
            "index": "0",
            ACTION_CHECKBOX_NAME: [str(s.id) for s in [*sagas, done]],
        },
        follow=True,
    )
    operation = BulkOperation.objects.get()
    assert (operation.action, operation.total, operation.user.username) == ("retry", 4, "root")
    url = reverse("bulk-operation", args=[operation.id])
    assert f'href="{url}"' in r.content.decode()
    assert not OperatorAction.objects.exists()  # the workers act, saga by saga
    while bulk.work():
        pass
    outcomes = dict(operation.items.values_list("saga_id", "outcome"))
    assert outcomes == {**{s.id: "applied" for s in sagas}, done.id: "skipped"}
    assert OperatorAction.objects.filter(action="retry", actor="root").count() == 3


def test_several_sagas_need_the_bulk_permission_and_a_refusal_is_a_message_not_a_500():
    sagas = [failed_saga(f"p-{i}") for i in range(2)]
    retrier = staff("retry_saga")
    r = retrier.post(
        CHANGELIST,
        {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(s.id) for s in sagas]},
        follow=True,
    )
    assert r.status_code == 200
    assert "lacks the permission sagas.bulk_operate" in r.content.decode()
    assert not BulkOperation.objects.exists() and not OperatorAction.objects.exists()
    # one saga needs only the action's own permission
    retrier.post(
        CHANGELIST,
        {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(sagas[0].id)]},
    )
    assert OperatorAction.objects.filter(action="retry").count() == 1


def test_the_bulk_cap_applies_to_the_admin_too(root, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_SAGAS", 2)
    sagas = [failed_saga(f"cap-{i}") for i in range(3)]
    r = root.post(
        CHANGELIST,
        {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(s.id) for s in sagas]},
        follow=True,
    )
    assert r.status_code == 200 and "more than 2 sagas" in r.content.decode()
    assert not BulkOperation.objects.exists() and not OperatorAction.objects.exists()


def test_a_bulk_compensate_previews_then_needs_a_reason(root):
    sagas = [failed_saga(f"c-{i}") for i in range(2)]
    data = {
        "action": "action_compensate",
        "index": "0",
        ACTION_CHECKBOX_NAME: [str(s.id) for s in sagas],
    }
    confirm = root.post(CHANGELIST, data).content.decode().lower()
    assert "2 sagas selected" in confirm and "compensate applies to 2 of them" in confirm
    assert not BulkOperation.objects.exists()
    again = root.post(CHANGELIST, {**data, "confirm": "yes", "reason": "  "}).content.decode()
    assert "this field is required" in again.lower() and not BulkOperation.objects.exists()
    root.post(CHANGELIST, {**data, "confirm": "yes", "reason": "customer called"}, follow=True)
    operation = BulkOperation.objects.get()
    assert (operation.action, operation.reason, operation.total) == (
        "compensate",
        "customer called",
        2,
    )


def test_select_all_across_pages_takes_the_whole_filter(root):
    sagas = [failed_saga(f"all-{i}") for i in range(3)]
    start("ledger", {}, correlation_id="running-one")
    r = root.post(
        f"{CHANGELIST}?status__exact=failed",
        {
            "action": "action_retry",
            "index": "0",
            "select_across": "1",
            ACTION_CHECKBOX_NAME: [str(sagas[0].id)],
        },
        follow=True,
    )
    assert r.status_code == 200
    operation = BulkOperation.objects.get()
    assert set(operation.items.values_list("saga_id", flat=True)) == {s.id for s in sagas}
    # the confirmation page carries the filter, not the ids, to the confirmed request
    data = {"action": "action_cancel", "index": "0", "select_across": "1"}
    url = f"{CHANGELIST}?status__exact=failed"
    confirm = root.post(url, {**data, ACTION_CHECKBOX_NAME: [str(sagas[0].id)]}).content.decode()
    assert "3 sagas selected" in confirm and "select_across" in confirm
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', confirm)
    posted: dict[str, list[str]] = {}
    for field, value in hidden:
        posted.setdefault(field, []).append(value)
    assert len(posted[ACTION_CHECKBOX_NAME]) == 1  # one id, not every saga the filter matched
    root.post(url, {**posted, "reason": "shop closed"}, follow=True)
    cancel = BulkOperation.objects.get(action="cancel")
    assert cancel.total == 3 and cancel.selection == {"admin filter": "status__exact=failed"}


def test_compensate_asks_for_a_reason_and_shows_what_will_happen(root):
    saga = start("ledger", {}, correlation_id="c-1")
    SagaInstance.objects.filter(id=saga.id).update(current_step=2, results={"a": 1, "b": 2})
    data = {"action": "action_compensate", "index": "0", ACTION_CHECKBOX_NAME: [str(saga.id)]}
    confirm = root.post(CHANGELIST, data).content.decode()
    assert "compensates step 2 (b) and step 1 (a), in reverse order" in confirm.lower()
    assert not OperatorAction.objects.exists()
    root.post(CHANGELIST, {**data, "confirm": "yes", "reason": "customer called"}, follow=True)
    record = OperatorAction.objects.get()
    assert (record.action, record.reason) == ("compensate", "customer called")


def test_actions_follow_the_same_permissions():
    saga = failed_saga()
    reader = staff()
    page = reader.get(CHANGELIST).content.decode()
    assert "action_retry" not in page  # no permission: no action offered
    r = reader.post(
        CHANGELIST, {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(saga.id)]}
    )
    assert not OperatorAction.objects.exists() and r.status_code in (200, 302)
    retrier = staff("retry_saga")
    page = retrier.get(CHANGELIST).content.decode()
    assert "action_retry" in page and "action_skip" not in page
    retrier.post(
        CHANGELIST, {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(saga.id)]}
    )
    assert OperatorAction.objects.filter(action="retry").count() == 1


def test_the_audit_log_is_read_only_for_everyone(root):
    saga = failed_saga()
    root.post(
        CHANGELIST, {"action": "action_retry", "index": "0", ACTION_CHECKBOX_NAME: [str(saga.id)]}
    )
    record = OperatorAction.objects.get()
    log = reverse("admin:sagas_operatoraction_changelist")
    assert "retry" in root.get(log).content.decode()
    change = reverse("admin:sagas_operatoraction_change", args=[record.id])
    root.post(change, {"reason": "rewritten history", "action": "skip"})
    record.refresh_from_db()
    assert (record.reason, record.action) == ("", "retry")
    assert root.get(reverse("admin:sagas_operatoraction_add")).status_code == 403
    assert (
        root.post(
            reverse("admin:sagas_operatoraction_delete", args=[record.id]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert OperatorAction.objects.filter(id=record.id).exists()


def test_the_admin_links_each_saga_to_its_dashboard_page(root):
    saga = failed_saga("adm-link")
    dashboard = reverse("saga-detail", args=[saga.id])
    change = root.get(reverse("admin:sagas_sagainstance_change", args=[saga.id]))
    assert change.status_code == 200
    assert re.search(rf'<a id="dashboard-link" href="{dashboard}">', change.content.decode())
    assert f'href="{dashboard}"' in root.get(CHANGELIST).content.decode()
    # and the dashboard's page links back
    assert (
        'href="{}"'.format(reverse("admin:sagas_sagainstance_change", args=[saga.id]))
        in root.get(dashboard).content.decode()
    )


def test_the_dashboard_links_to_the_admin_only_for_those_the_admin_shows_the_saga_to(
    django_user_model,
):
    saga = failed_saga("adm-link-2")
    change = reverse("admin:sagas_sagainstance_change", args=[saga.id])
    viewer = staff()  # view_sagainstance: the admin shows it
    assert (
        f'id="admin-link" href="{change}"'
        in viewer.get(reverse("saga-detail", args=[saga.id])).content.decode()
    )
    # A staff operator sees every saga on the dashboard without any grant, but the admin
    # needs view_sagainstance: no link to a page that would refuse them.
    operator = django_user_model.objects.create_user("plain-operator", is_staff=True)
    client = Client()
    client.force_login(operator)
    page = client.get(reverse("saga-detail", args=[saga.id]))
    assert page.status_code == 200 and 'id="admin-link"' not in page.content.decode()
    assert client.get(change).status_code in (302, 403)
