"""Archive round trip: prune -> archive_show -> archive_load gives back the saga whole,
read-only; a loaded saga is deleted again later, never archived twice."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from sagas.exceptions import ArchivedSaga
from sagas.models import LoadedSaga, OperatorAction, SagaInstance
from sagas.services import archive, retention
from sagas.services.actions import perform
from sagas.services.actors import Actor
from sagas.services.restart import restart
from tests.factories import settle, worker

from .scenarios import days, finished, latest_finish, refund_works

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Actor(name="root", scopes=frozenset({"operate", "start"}))


def snapshot(saga_id) -> dict:
    """The saga and every row keyed by it, as the archive writes them (JSON round trip)."""
    (record,) = archive.records([saga_id])
    record.pop("archived_at")
    return json.loads(json.dumps(record, cls=archive.DjangoJSONEncoder))


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_pruned_saga_comes_back_whole_and_read_only():
    (saga, other) = finished(("failing", {}), ("ledger", {}))
    refund_works["value"] = True
    perform(saga.id, "retry", actor=ROOT, version=saga.version, reason="refunds work again")
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == "compensated" and OperatorAction.objects.filter(saga=saga).exists()
    before = snapshot(saga.id)
    assert before["attempts"] and before["events"] and before["operator_actions"]

    now = latest_finish() + days(31)
    assert retention.prune(now).sagas == 2
    assert not SagaInstance.objects.exists()
    (path,) = archive.files()
    assert path.startswith(f"{saga.finished_at:%Y/%m/%d}/sagas-")

    shown = run("archive_show", str(path))
    assert str(saga.id) in shown and str(other.id) in shown
    assert "charge compensation #2 succeeded" in shown and "operator root: retry" in shown
    (record,) = [json.loads(run("archive_show", "--id", str(saga.id), "--json"))]
    day = f"{saga.finished_at:%Y-%m-%d}"
    assert (
        json.loads(run("archive_show", "--id", str(saga.id), "--day", day, "--json"))["saga"]
        == record["saga"]
    )
    record.pop("archived_at")
    assert record == before

    assert f"loaded {saga.id} (read-only)" in run("archive_load", str(path), "--id", str(saga.id))
    assert snapshot(saga.id) == before
    assert "skipped" in run("archive_load", str(path), "--id", str(saga.id))  # already there
    with pytest.raises(ArchivedSaga, match="read-only"):
        perform(saga.id, "resume", actor=ROOT, version=saga.version)
    with pytest.raises(ArchivedSaga):
        restart(saga.id, actor=ROOT, new_input={}, reason="try it again")

    # The pruner leaves a loaded saga to its own clock, and never archives it again.
    loaded_at = LoadedSaga.objects.get().loaded_at
    assert retention.prune(loaded_at + days(6)) == retention.Summary()
    assert SagaInstance.objects.filter(id=saga.id).exists()
    assert retention.prune(loaded_at + days(8)).unloaded == 1
    assert not SagaInstance.objects.exists() and not LoadedSaga.objects.exists()
    assert archive.files() == [path]


def test_archive_show_says_what_is_wrong():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="FILE, or --id"):
        run("archive_show")
    with pytest.raises(CommandError, match="not a saga id"):
        run("archive_show", "--id", "x' OR 1=1")
    with pytest.raises(CommandError, match="no archived saga"):
        run("archive_show", "--id", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(CommandError, match="not a date"):
        run("archive_show", "--id", "00000000-0000-0000-0000-000000000000", "--day", "soon")
    with pytest.raises(CommandError, match="cannot read archive"):
        run("archive_show", "/nonexistent.jsonl.gz")


def test_prune_sagas_command_dry_run_then_real(settings):
    finished(("ledger", {}), ("ledger", {}), ("failing", {}))
    # Sagas that finished 40 days ago: the command prunes on the database's clock.
    from datetime import timedelta

    from django.db.models import F

    SagaInstance.objects.exclude(status="failed").update(
        finished_at=F("finished_at") - timedelta(days=40)
    )
    dry = run("prune_sagas", "--dry-run", "--batch", "1", "--list")
    assert "batch 2: would prune 1 sagas" in dry and "dry run: 2 sagas would be pruned" in dry
    assert SagaInstance.objects.count() == 3
    for saga in SagaInstance.objects.exclude(status="failed"):
        assert f"  {saga.id}  ledger  completed  " in dry
    real = run("prune_sagas", "--batch", "1")
    assert "batch 2: pruned 1 sagas" in real and "pruned 2 sagas in 2 batches" in real
    assert list(SagaInstance.objects.values_list("status", flat=True)) == ["failed"]
