"""Real worker processes on PostgreSQL: sharing work, SIGKILL, SIGSTOP past the lease."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
from django.db.models import Count

from sagas.models import SagaEvent, SagaInstance, StepAttempt
from sagas.statuses import ACTIVE_STATUSES, SagaStatus
from tests.factories import start
from tests.processes import spawn_worker, stop_all, wait_for
from tests.testapp.models import LedgerEntry, StepCall

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def active() -> int:
    return SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).count()


def assert_each_effect_applied_once() -> None:
    doubled = LedgerEntry.objects.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists(), list(doubled[:5])


def test_three_workers_share_500_sagas_and_apply_each_effect_once(tmp_path):
    sagas = [start("ledger", {"fail_at": "c"} if i % 10 == 0 else {}) for i in range(500)]
    workers = [spawn_worker(tmp_path, f"w{i}", "--batch-size", "20") for i in range(3)]
    try:
        took = wait_for(lambda: active() == 0, 180, "500 sagas to finish")
    finally:
        codes = stop_all(workers)
    assert codes == [0, 0, 0], "workers should stop gracefully on SIGTERM"
    statuses = Counter(SagaInstance.objects.values_list("status", flat=True))
    assert statuses == {SagaStatus.COMPLETED: 450, SagaStatus.COMPENSATED: 50}
    assert_each_effect_applied_once()
    # 450 x 4 forward effects, 50 x (a, b forward + b, a compensations)
    assert LedgerEntry.objects.count() == 450 * 4 + 50 * 4
    actors = Counter(SagaEvent.objects.exclude(actor="").values_list("actor", flat=True))
    assert {"w0", "w1", "w2"} <= set(actors), f"work was not shared: {actors}"
    assert not SagaInstance.objects.exclude(lease_owner=None).exists()
    print(f"500 sagas on 3 workers in {took:.1f}s; events per worker {dict(actors)}")
    assert len(sagas) == 500


def test_a_worker_killed_with_sigkill_loses_nothing(tmp_path):
    lease = 2.0
    for _ in range(200):
        start("ledger", {"sleep": 0.02})
    victim = spawn_worker(tmp_path, "victim", "--lease", str(lease), "--batch-size", "50")
    survivor = spawn_worker(tmp_path, "survivor", "--lease", str(lease), "--batch-size", "50")
    try:
        wait_for(
            lambda: SagaInstance.objects.filter(lease_owner="victim", in_flight=True).exists(),
            30,
            "the victim to hold sagas mid-step",
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        orphans = list(
            SagaInstance.objects.filter(lease_owner="victim").values_list("id", flat=True)
        )
        assert orphans, "the victim held nothing when it died"
        # the orphans wait out the lease, then run; the rest never stopped
        took = wait_for(lambda: active() == 0, lease + 60, "every saga to finish")
    finally:
        stop_all([victim, survivor])
    assert SagaInstance.objects.filter(status=SagaStatus.COMPLETED).count() == 200
    assert_each_effect_applied_once()
    assert LedgerEntry.objects.count() == 200 * 4
    recovered = StepAttempt.objects.filter(
        saga_id__in=orphans, error_type="sagas.exceptions.WorkerLost"
    )
    assert recovered.exists(), "orphaned in-flight attempts should be recorded as lost"
    # a lost attempt is retried under the same idempotency key
    for lost in recovered[:20]:
        retry = StepAttempt.objects.get(
            saga_id=lost.saga_id,
            step_index=lost.step_index,
            phase=lost.phase,
            attempt=lost.attempt + 1,
        )
        assert retry.idempotency_key == lost.idempotency_key
    print(f"{len(orphans)} orphaned sagas recovered; all done {took:.1f}s after the kill")


def test_a_worker_frozen_past_its_lease_writes_nothing_when_it_wakes(tmp_path):
    saga = start("ledger", {"sleep_first": 3})
    frozen = spawn_worker(tmp_path, "frozen", "--lease", "1")
    other = None
    try:
        wait_for(
            lambda: StepCall.objects.filter(saga_id=saga.id).exists(), 20, "the first step to start"
        )
        frozen.send_signal(signal.SIGSTOP)
        other = spawn_worker(tmp_path, "other", "--lease", "1")
        wait_for(
            lambda: SagaInstance.objects.get(id=saga.id).status == SagaStatus.COMPLETED,
            30,
            "the other worker to finish the saga",
        )
        before = SagaInstance.objects.get(id=saga.id)
        events_before = SagaEvent.objects.filter(saga=saga).count()
        frozen.send_signal(signal.SIGCONT)
        # the frozen worker wakes mid-step; give it time to finish the step and try to commit
        time.sleep(4)
        assert frozen.poll() is None, "the frozen worker should carry on, not crash"
    finally:
        if frozen.poll() is None:
            os.kill(frozen.pid, signal.SIGCONT)
        stop_all([p for p in (frozen, other) if p is not None])
    after = SagaInstance.objects.get(id=saga.id)
    assert (after.version, after.updated_at) == (before.version, before.updated_at)
    assert SagaEvent.objects.filter(saga=saga).count() == events_before
    frozen_events = SagaEvent.objects.filter(saga=saga, actor="frozen")
    other_first = SagaEvent.objects.filter(saga=saga, actor="other").order_by("id").first()
    assert all(e.id < other_first.id for e in frozen_events)
    log = (tmp_path / "frozen.log").read_text()
    assert "dropped saga" in log and "lease lost" in log
    assert_each_effect_applied_once()


def test_notify_wakes_an_idle_worker_at_once(tmp_path):
    # a poll far longer than the test: only NOTIFY can wake it in time
    idle = spawn_worker(tmp_path, "listener", "--poll", "30")
    try:
        time.sleep(3)  # booted and idle, waiting on LISTEN
        saga = start("ledger")
        took = wait_for(
            lambda: SagaInstance.objects.get(id=saga.id).status == SagaStatus.COMPLETED,
            10,
            "the saga to finish",
        )
    finally:
        stop_all([idle])
    assert took < 5, f"NOTIFY should wake the worker; it took {took:.1f}s"


def test_the_heartbeat_keeps_a_step_longer_than_the_lease(tmp_path):
    saga = start("ledger", {"sleep_first": 2.5})
    workers = [spawn_worker(tmp_path, f"hb{i}", "--lease", "1") for i in range(2)]
    try:
        wait_for(
            lambda: SagaInstance.objects.get(id=saga.id).status == SagaStatus.COMPLETED,
            40,
            "the saga to finish",
        )
    finally:
        stop_all(workers)
    calls = Counter(StepCall.objects.filter(saga_id=saga.id).values_list("step", flat=True))
    assert calls == {"a": 1, "b": 1, "c": 1, "d": 1}, "a held lease must not be taken over"


def test_a_worker_survives_losing_its_database_connections(tmp_path):
    from django.db import connection

    for _ in range(30):
        start("ledger", {"sleep": 0.05})
    w = spawn_worker(tmp_path, "resilient", "--lease", "2")
    try:
        wait_for(
            lambda: SagaInstance.objects.filter(lease_owner="resilient").exists(),
            20,
            "the worker to hold sagas",
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        wait_for(lambda: active() == 0, 60, "every saga to finish after the disconnect")
        assert w.poll() is None, "the worker should reconnect, not exit"
    finally:
        stop_all([w])
    assert SagaInstance.objects.filter(status=SagaStatus.COMPLETED).count() == 30
    assert_each_effect_applied_once()
    # the disconnect was felt: by a step (retried) or by the worker loop (recovered)
    felt_by_step = StepAttempt.objects.filter(error_message__contains="terminat").exists()
    felt_by_loop = "database error" in (tmp_path / "resilient.log").read_text()
    assert felt_by_step or felt_by_loop
