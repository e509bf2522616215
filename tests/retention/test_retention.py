"""Which sagas are pruned and when, on a clock the test passes in; the dry run walks the
same batches as the real run; failed sagas are never pruned."""

from __future__ import annotations

import pytest

from sagas.models import SagaEvent, SagaInstance, StepAttempt
from sagas.services import archive, retention
from sagas.statuses import CompensationCause, SagaStatus

from .scenarios import days, finished, latest_finish

pytestmark = pytest.mark.django_db(transaction=True)


def prunable(now) -> set:
    return {due.id for batch in retention.batches(now) for due in batch}


def test_finished_sagas_are_kept_30_days_and_failed_ones_forever():
    done, refused, failed = finished(("ledger", {}), ("ledger", {"fail_at": "b"}), ("failing", {}))
    assert (done.status, refused.status, failed.status) == ("completed", "compensated", "failed")
    end = latest_finish()
    assert prunable(end + days(29)) == set()
    assert prunable(end + days(31)) == {done.id, refused.id}
    summary = retention.prune(end + days(31))
    assert (summary.sagas, summary.statuses) == (2, {"completed": 1, "compensated": 1})
    assert list(SagaInstance.objects.values_list("id", flat=True)) == [failed.id]
    assert not StepAttempt.objects.exclude(saga=failed).exists()
    assert not SagaEvent.objects.exclude(saga=failed).exists()
    # Years later, the failed saga waits for its operator still.
    assert retention.prune(end + days(3650)).sagas == 0
    assert SagaInstance.objects.get().status == SagaStatus.FAILED


def test_a_definition_and_the_settings_set_retention_per_type_and_outcome(settings):
    short, ledger, cancelled = finished(("short", {}), ("ledger", {}), ("ledger", {"fail_at": "c"}))
    # An operator's cancel ends compensated with this cause: the "cancelled" outcome.
    SagaInstance.objects.filter(id=cancelled.id).update(
        compensation_cause=CompensationCause.OPERATOR
    )
    end = latest_finish()
    assert prunable(end + days(2)) == {short.id}  # the definition: one day
    settings.SAGASCOPE_RETENTION = {
        "short": {"completed": 5},
        "*": {"cancelled": None, "completed": 2},
    }
    assert prunable(end + days(3)) == {ledger.id}  # the setting beats the definition
    assert prunable(end + days(6)) == {short.id, ledger.id}
    assert cancelled.id not in prunable(end + days(3650))  # None: never


def test_retention_is_never_shorter_than_the_overview_needs(settings):
    (saga,) = finished(("ledger", {}))
    settings.SAGASCOPE_RETENTION = {"*": {"completed": 0}}
    assert prunable(saga.finished_at + days(10 / 1440)) == set()  # 10 minutes
    assert prunable(saga.finished_at + days(16 / 1440)) == {saga.id}


def test_the_dry_run_lists_exactly_what_the_real_run_prunes(capsys):
    sagas = finished(*[("ledger", {"fail_at": "b"} if i % 3 else {}) for i in range(12)])
    finished(("failing", {}))
    now = latest_finish() + days(31)
    said: list[str] = []
    dry = retention.prune(now, dry_run=True, size=5, progress=said.append)
    assert SagaInstance.objects.count() == 13  # the dry run changed nothing
    assert not list(archive.files())
    would = prunable(now)
    done: list[str] = []
    real = retention.prune(now, size=5, progress=done.append)
    assert (dry.sagas, dry.batches, dry.statuses) == (real.sagas, real.batches, real.statuses)
    assert [line.replace("would prune", "pruned") for line in said] == done
    archived = {r["saga"]["id"] for path in archive.files() for r in archive.read(path)}
    assert archived == {str(i) for i in would} == {str(s.id) for s in sagas}
    assert done[0].startswith("batch 1: pruned 5 sagas finished ")


def test_only_one_pruner_has_the_turn_and_a_run_waits_its_interval():
    assert retention.take_turn("w1", 60, interval=600)
    assert not retention.take_turn("w2", 60, interval=600)  # w1 holds the lease
    retention.end_turn("w1")
    assert not retention.take_turn("w2", 60, interval=600)  # w1 ran a moment ago
    assert retention.take_turn("w2", 60, interval=0)


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ({"failed": 3}, "outcome 'failed' is not one of"),
        ({"completed": -1}, "must be days >= 0"),
        ({"completed": "30"}, "must be days >= 0"),
        ([30], "must be a dict"),
    ],
)
def test_a_definition_with_a_wrong_retention_is_refused(retention, message):
    from sagas.definition import Saga, Step
    from sagas.exceptions import SagaDefinitionError

    with pytest.raises(SagaDefinitionError, match=message):
        type(
            "Bad",
            (Saga,),
            {
                "name": "bad",
                "register": False,
                "retention": retention,
                "steps": [Step("x", action=print)],
            },
        )


def test_a_saga_that_gains_an_event_after_its_archive_is_kept_for_the_next_run(monkeypatch):
    from sagas.models import SagaEvent
    from sagas.statuses import EventType

    (saga, other) = finished(("ledger", {}), ("ledger", {}))
    now = latest_finish() + days(31)
    write = archive.write

    def write_then_a_late_reply(relative, lines):
        path = write(relative, lines)
        # A late reply is recorded on a finished saga with no new version.
        SagaEvent.objects.create(
            saga=saga, type=EventType.REPLY_IGNORED, version=saga.version, created_at=now
        )
        return path

    monkeypatch.setattr(archive, "write", write_then_a_late_reply)
    first = retention.prune(now)
    assert (first.sagas, first.changed) == (1, 1)
    assert list(SagaInstance.objects.values_list("id", flat=True)) == [saga.id]
    monkeypatch.setattr(archive, "write", write)
    assert retention.prune(now).sagas == 1
    found = archive.find(saga.id)
    assert found is not None
    assert EventType.REPLY_IGNORED in [e["type"] for e in found[1]["events"]]  # the newest
    assert not SagaInstance.objects.filter(id=other.id).exists()
