"""The Django admin: read-only sagas, the same actions and permissions, an untouchable log."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from sagas.models import OperatorAction, SagaInstance
from sagas.statuses import SagaStatus
from tests.factories import start

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = reverse("admin:sagas_sagainstance_changelist")


def failed_saga(correlation: str = "adm-1") -> SagaInstance:
    saga = start("ledger", {}, correlation_id=correlation)
    SagaInstance.objects.filter(id=saga.id).update(
        status=SagaStatus.FAILED,
        current_step=3,
        attempt=5,
        failures=5,
        next_run_at=None,
        context={"a": None, "b": None, "c": None},
        reason="stuck",
    )
    saga.refresh_from_db()
    return saga


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


def test_the_retry_action_goes_through_the_service_layer(root):
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
    page = r.content.decode().lower()
    assert "retry: applied to 3 saga(s)" in page and "only a failed saga" in page
    assert OperatorAction.objects.filter(action="retry", actor="root").count() == 3


def test_compensate_asks_for_a_reason_and_shows_what_will_happen(root):
    saga = start("ledger", {}, correlation_id="c-1")
    SagaInstance.objects.filter(id=saga.id).update(current_step=2, context={"a": 1, "b": 2})
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
