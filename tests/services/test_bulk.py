"""Bulk operations: preview the whole filter, snapshot it, carry it out saga by saga."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client

from sagas.models import BulkItem, BulkOperation, OperatorAction, SagaInstance
from sagas.services import bulk
from sagas.services.actions import Actor
from sagas.services.queries import SagaFilter
from sagas.statuses import SagaStatus
from tests.factories import start

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Actor(name="root", scopes=frozenset({"operate"}))


def failed(n: int, correlation: str = "bulk") -> list[SagaInstance]:
    sagas = [start("ledger", {}, correlation_id=f"{correlation}-{i}") for i in range(n)]
    SagaInstance.objects.filter(id__in=[s.id for s in sagas]).update(
        status=SagaStatus.FAILED,
        current_step=3,
        attempt=5,
        failures=5,
        next_run_at=None,
        context={"a": None, "b": None, "c": None},
        reason="stuck for the test",
    )
    return sagas


def run_all() -> None:
    while bulk.work():
        pass


def test_preview_counts_the_whole_filter_and_says_what_it_skips():
    failed(7)
    start("ledger")  # running: a retry does not apply
    preview = bulk.preview("retry", bulk.select(SagaFilter(type="ledger")), ROOT)
    assert (preview.total, preview.applicable) == (8, 7)
    assert preview.by_status == {"failed": 7, "running": 1}
    assert preview.skipped == [
        {
            "reason": "saga is running; only a failed saga can be retried",
            "count": 1,
            "examples": preview.skipped[0]["examples"],
        }
    ]


def test_a_bulk_retry_applies_to_each_matching_saga_once_with_its_own_audit_record():
    sagas = failed(30)
    running = start("ledger")
    operation = bulk.start(
        "retry", bulk.select(SagaFilter(type="ledger")), ROOT, selection={"type": "ledger"}
    )
    assert operation.total == 31 and bulk.progress(operation)["done"] == 0
    run_all()
    operation.refresh_from_db()
    progress = bulk.progress(operation)
    assert operation.status == BulkOperation.Status.DONE and progress["done"] == 31
    assert progress["outcomes"] == {"pending": 0, "applied": 30, "skipped": 1, "failed": 0}
    skipped = operation.items.get(outcome="skipped")
    assert skipped.saga_id == running.id and "only a failed saga" in skipped.message
    assert OperatorAction.objects.filter(action="retry").count() == 30
    assert all(
        s.status == SagaStatus.RUNNING
        for s in SagaInstance.objects.filter(id__in=[s.id for s in sagas])
    )


def test_a_saga_that_changed_after_the_snapshot_is_skipped_not_acted_on_blindly():
    (saga,) = failed(1)
    operation = bulk.start("retry", bulk.select(ids=[str(saga.id)]), ROOT)
    SagaInstance.objects.filter(id=saga.id).update(version=saga.version + 1)  # someone acted
    run_all()
    item = BulkItem.objects.get(operation=operation)
    assert item.outcome == "skipped" and "changed since you loaded it" in item.message
    assert not OperatorAction.objects.exists()


def test_bulk_needs_its_own_permission_and_the_actions():
    failed(2)
    user = User.objects.create_user("op", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="retry_saga"))
    operator = Actor(name="op", user=User.objects.get(pk=user.pk))
    with pytest.raises(PermissionDenied, match="bulk_operate"):
        bulk.preview("retry", bulk.select(), operator)
    user.user_permissions.add(Permission.objects.get(codename="bulk_operate"))
    operator = Actor(name="op", user=User.objects.get(pk=user.pk))
    assert bulk.preview("retry", bulk.select(), operator).applicable == 2
    with pytest.raises(PermissionDenied, match="skip_step"):
        bulk.start("skip", bulk.select(), operator, reason="x")


def test_the_bulk_api_previews_starts_and_reports_per_saga(settings):
    failed(5)
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    body = {"action": "cancel", "selection": {"type": "ledger", "status": "failed"}}
    r = client.post("/api/bulk/preview", json.dumps(body), content_type="application/json")
    assert r.status_code == 200 and r.json()["total"] == 5
    # cancel needs a running saga: every failed one would be skipped, with the reason
    assert r.json()["applicable"] == 0
    assert "only a running saga can be cancelled" in r.json()["skipped"][0]["reason"]
    r = client.post(
        "/api/bulk", json.dumps({**body, "action": "retry"}), content_type="application/json"
    )
    assert r.status_code == 202 and r.json()["total"] == 5
    run_all()
    report = client.get(f"/api/bulk/{r.json()['id']}").json()
    assert report["status"] == "done" and report["outcomes"]["applied"] == 5
    assert len(report["items"]) == 5 and {i["outcome"] for i in report["items"]} == {"applied"}
    needs_reason = client.post("/api/bulk", json.dumps(body), content_type="application/json")
    assert needs_reason.status_code == 400 and "reason" in needs_reason.json()["detail"]
    # following an operation is reading: a token without the read scope is refused
    out = StringIO()
    call_command("create_api_token", "starter", "--scope", "start", stdout=out)
    starter = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    refused = starter.get(f"/api/bulk/{r.json()['id']}")
    assert refused.status_code == 403 and "read" in refused.json()["detail"]
