"""Pruning in the workers (one pruner at a time), and the counts the overview and /metrics
show staying exact while sagas are pruned."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import F, Sum

from dashboard.overview import TerminalCounts
from sagas.engine.leases import database_now
from sagas.models import MetricCounter, SagaInstance
from sagas.services import archive, retention
from tests.processes import spawn, stop_all, wait_for

from .scenarios import finished

pytestmark = pytest.mark.django_db(transaction=True)


def age(sagas_days: int) -> None:
    """Make the finished sagas look `sagas_days` old (the workers prune on the real clock)."""
    SagaInstance.objects.exclude(status="failed").update(
        finished_at=F("finished_at") - timedelta(days=sagas_days),
        created_at=F("created_at") - timedelta(days=sagas_days),
    )


def totals() -> list:
    keys = ("name", "saga_type", "step", "phase", "label")
    return list(MetricCounter.objects.values(*keys).annotate(total=Sum("value")).order_by(*keys))


def test_the_overview_and_metrics_counts_stay_exact_while_pruning():
    finished(*[("ledger", {"fail_at": "b"} if i % 3 == 0 else {}) for i in range(12)])
    age(40)
    finished(("ledger", {}), ("failing", {}))  # recent: not due
    counts = TerminalCounts()
    metrics_before = totals()
    assert metrics_before
    assert counts.get(database_now()) == {"completed": 9, "compensated": 4}
    said: list[str] = []
    retention.prune(size=5, progress=said.append)
    assert len(said) == 3
    # Right after, not after the baseline's 10-minute recount.
    assert counts.get(database_now()) == {"completed": 1, "compensated": 0}
    assert TerminalCounts().get(database_now()) == {"completed": 1, "compensated": 0}
    assert totals() == metrics_before  # /metrics reads totals that deleting rows never touches


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_prune_each_saga_once(tmp_path, settings):
    sagas = finished(*[("ledger", {}) for _ in range(120)])
    age(40)
    env = {
        "SAGASCOPE_PRUNE": "1",
        "SAGASCOPE_PRUNE_INTERVAL": "0.5",
        "SAGASCOPE_PRUNE_BATCH": "7",
        "SAGASCOPE_ARCHIVE_DIR": settings.SAGASCOPE_ARCHIVE_DIR,
    }
    workers = [
        spawn(["run_worker", "--id", f"w{i}", "--poll", "0.1"], tmp_path / f"w{i}.log", **env)
        for i in range(2)
    ]
    try:
        wait_for(lambda: not SagaInstance.objects.exists(), 60, "the workers to prune")
    finally:
        assert stop_all(workers) == [0, 0]
    archived = Counter(r["saga"]["id"] for p in archive.files() for r in archive.read(p))
    assert set(archived) == {str(s.id) for s in sagas} and max(archived.values()) == 1
