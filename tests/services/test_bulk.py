"""Bulk operations: preview the whole filter, snapshot it, carry it out saga by saga."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from sagas.models import ApiToken, BulkItem, BulkOperation, OperatorAction, SagaInstance
from sagas.services import bulk
from sagas.services.actors import Actor
from sagas.services.queries import SagaFilter
from sagas.statuses import SagaStatus
from tests.factories import start

pytestmark = pytest.mark.django_db


@pytest.fixture
def root() -> Actor:
    """An API token with the operate scope, as the API would authenticate it."""
    token, _ = ApiToken.issue("root", ["operate"])
    return Actor(name="token:root", scopes=frozenset(token.scopes), token_id=token.pk)


def failed(n: int, correlation: str = "bulk") -> list[SagaInstance]:
    sagas = [start("ledger", {}, correlation_id=f"{correlation}-{i}") for i in range(n)]
    SagaInstance.objects.filter(id__in=[s.id for s in sagas]).update(
        status=SagaStatus.FAILED,
        current_step=3,
        attempt=5,
        failures=5,
        next_run_at=None,
        results={"a": None, "b": None, "c": None},
        reason="stuck for the test",
    )
    return sagas


def run_all() -> None:
    while bulk.work():
        pass


def test_preview_counts_the_whole_filter_and_says_what_it_skips(root):
    failed(7)
    start("ledger")  # running: a retry does not apply
    preview = bulk.preview("retry", bulk.select(SagaFilter(type="ledger")), root)
    assert (preview.total, preview.applicable) == (8, 7)
    assert preview.by_status == {"failed": 7, "running": 1}
    assert preview.skipped == [
        {
            "reason": "saga is running; only a failed saga can be retried",
            "count": 1,
            "examples": preview.skipped[0]["examples"],
        }
    ]


def test_a_bulk_retry_applies_to_each_matching_saga_once_with_its_own_audit_record(root):
    sagas = failed(30)
    running = start("ledger")
    operation = bulk.start(
        "retry", bulk.select(SagaFilter(type="ledger")), root, selection={"type": "ledger"}
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


def test_a_saga_that_changed_after_the_snapshot_is_skipped_not_acted_on_blindly(root):
    (saga,) = failed(1)
    operation = bulk.start("retry", bulk.select(ids=[str(saga.id)]), root)
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
    assert needs_reason.status_code == 422 and "reason" in needs_reason.json()["detail"]
    # following an operation is reading: a token without the read scope is refused
    out = StringIO()
    call_command("create_api_token", "starter", "--scope", "start", stdout=out)
    starter = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    refused = starter.get(f"/api/bulk/{r.json()['id']}")
    assert refused.status_code == 403 and "read" in refused.json()["detail"]


def operator_with(*codenames: str, username: str = "op") -> Actor:
    user = User.objects.create_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return Actor(name=username, user=User.objects.get(pk=user.pk))


def test_an_operation_needs_an_owner_the_workers_can_check_later():
    failed(1)
    nobody = Actor(name="script", scopes=frozenset({"operate"}))
    with pytest.raises(PermissionDenied, match="neither a user nor an API token"):
        bulk.start("retry", bulk.select(), nobody)
    assert not BulkOperation.objects.exists()


def test_a_queued_operation_whose_user_was_deleted_fails_instead_of_running_unowned():
    sagas = failed(5)
    operator = operator_with("bulk_operate", "retry_saga")
    operation = bulk.start("retry", bulk.select(SagaFilter(type="ledger")), operator)
    operator.user.delete()
    run_all()
    operation.refresh_from_db()
    assert operation.user_id is None and operation.status == BulkOperation.Status.DONE
    assert bulk.progress(operation)["outcomes"] == {
        "pending": 0,
        "applied": 0,
        "skipped": 0,
        "failed": 5,
    }
    assert {i.message for i in operation.items.all()} == {"the operator no longer exists"}
    assert not OperatorAction.objects.exists()
    assert set(SagaInstance.objects.values_list("status", flat=True)) == {SagaStatus.FAILED}
    assert len(sagas) == 5


def test_a_user_who_lost_the_bulk_permission_or_was_deactivated_is_refused_item_by_item():
    failed(2)
    operator = operator_with("bulk_operate", "retry_saga")
    lost = bulk.start("retry", bulk.select(), operator)
    operator.user.user_permissions.remove(Permission.objects.get(codename="bulk_operate"))
    run_all()
    assert {(i.outcome, i.message) for i in lost.items.all()} == {
        ("failed", "op no longer has the permission sagas.bulk_operate")
    }
    other = operator_with("bulk_operate", "retry_saga", username="op2")
    inactive = bulk.start("retry", bulk.select(), other)
    User.objects.filter(pk=other.user.pk).update(is_active=False)
    run_all()
    assert {(i.outcome, i.message) for i in inactive.items.all()} == {
        ("failed", "the operator 'op2' was deactivated")
    }
    assert not OperatorAction.objects.exists()


def start_through_the_api(raw: str) -> BulkOperation:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {"action": "retry", "selection": {"type": "ledger"}}
    r = client.post("/api/bulk", json.dumps(body), content_type="application/json")
    assert r.status_code == 202, r.content
    return BulkOperation.objects.get(id=r.json()["id"])


def test_a_token_started_operation_records_the_token_and_runs_while_it_is_live():
    failed(3)
    token, raw = ApiToken.issue("ops", ["operate", "read"])
    operation = start_through_the_api(raw)
    assert operation.token_id == token.pk and operation.user_id is None
    run_all()
    assert bulk.progress(operation)["outcomes"]["applied"] == 3
    assert set(OperatorAction.objects.values_list("actor", flat=True)) == {"token:ops"}


@pytest.mark.parametrize(
    ("end", "message"),
    [
        ("revoke", "the token 'ops' was revoked"),
        ("expire", "the token 'ops' expired"),
        ("delete", "the token 'ops' was deleted"),
    ],
)
def test_when_the_token_that_started_an_operation_ends_the_remaining_items_fail(end, message):
    failed(6)
    token, raw = ApiToken.issue("ops", ["operate", "read"])
    operation = start_through_the_api(raw)
    assert bulk.work(limit=2) == 2  # two sagas done while the token was live
    if end == "revoke":
        token.revoke()
    elif end == "expire":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    else:
        token.delete()
    run_all()
    operation.refresh_from_db()
    assert operation.status == BulkOperation.Status.DONE
    assert bulk.progress(operation)["outcomes"] == {
        "pending": 0,
        "applied": 2,
        "skipped": 0,
        "failed": 4,
    }
    assert {i.message for i in operation.items.filter(outcome="failed")} == {message}
    assert OperatorAction.objects.count() == 2


def test_a_saga_the_code_cannot_act_on_fails_alone_and_the_operation_goes_on(root):
    broken, *fine = failed(3)
    SagaInstance.objects.filter(id=broken.id).update(definition_steps=42)  # unreadable
    operation = bulk.start("retry", bulk.select(SagaFilter(type="ledger")), root)
    run_all()
    operation.refresh_from_db()
    assert operation.status == BulkOperation.Status.DONE
    item = operation.items.get(saga_id=broken.id)
    assert item.outcome == "failed" and item.message.startswith("could not be applied: TypeError")
    assert set(operation.items.filter(outcome="applied").values_list("saga_id", flat=True)) == {
        s.id for s in fine
    }
