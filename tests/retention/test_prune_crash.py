"""A pruner killed with SIGKILL anywhere loses nothing and archives nothing twice: the next
run finishes the journaled batch first. Real processes on PostgreSQL."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from sagas.models import PruneBatch, SagaInstance
from sagas.services import archive, retention
from tests.processes import wait_for

from .crashing_prune import spawn as pruner
from .scenarios import days, finished, latest_finish

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def archived_ids() -> Counter:
    return Counter(r["saga"]["id"] for path in archive.files() for r in archive.read(path))


def assert_each_saga_archived_once_and_gone(ids: set[str]) -> None:
    counts = archived_ids()
    assert set(counts) == ids, "a saga was lost"
    assert max(counts.values()) == 1, f"archived twice: {[i for i, n in counts.items() if n > 1]}"
    assert not SagaInstance.objects.filter(id__in=ids).exists()
    assert not PruneBatch.objects.exists()
    root = Path(django_settings.SAGASCOPE_ARCHIVE_DIR)
    leftovers = [p for p in root.rglob("*") if p.is_file() and p.suffix == ".tmp"]
    assert not leftovers, leftovers


@pytest.mark.parametrize("point", ["journaled", "renaming", "written", "deleted"])
def test_a_pruner_killed_at_each_point_of_a_batch(tmp_path, point):
    sagas = finished(*[("ledger", {}) for _ in range(30)])
    ids = {str(s.id) for s in sagas}
    now = latest_finish() + days(31)
    process = pruner(now, tmp_path / "pruner.log", CRASH_AT=point, CRASH_BATCH="2")
    assert process.wait(60) == -signal.SIGKILL, (tmp_path / "pruner.log").read_text()
    left = PruneBatch.objects.count()
    assert left == (0 if point == "deleted" else 1)
    # The first batch went; the second too if the kill came after its delete.
    assert SagaInstance.objects.count() == (10 if point == "deleted" else 20)
    summary = retention.prune(now, size=10)
    assert summary.recovered == left
    assert_each_saga_archived_once_and_gone(ids)


def test_a_pruner_killed_at_random_moments_again_and_again(tmp_path):
    sagas = finished(*[("ledger", {"fail_at": "c"} if i % 4 == 0 else {}) for i in range(200)])
    ids = {str(s.id) for s in sagas}
    now = latest_finish() + days(31)
    rng = random.Random(15)
    kills = 0
    while SagaInstance.objects.exists() and kills < 40:
        process = pruner(now, tmp_path / "pruner.log", PRUNE_BATCH="5")
        time.sleep(rng.uniform(0.3, 1.5))  # the interpreter and Django start in ~0.3 s
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(30)
    if SagaInstance.objects.exists():
        process = pruner(now, tmp_path / "pruner.log", PRUNE_BATCH="5")
        wait_for(lambda: process.poll() is not None, 60, "the last pruner to finish")
    assert kills >= 3, "the pruner was never killed mid-run: make it slower"
    assert_each_saga_archived_once_and_gone(ids)
    print(f"{kills} SIGKILLs; {len(ids)} sagas archived once each in {len(archive.files())} files")
