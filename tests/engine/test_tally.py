"""The /metrics totals kept in MetricCounter: each thread adds to its own shard, and a fold
merges the others into one row per key without losing a count."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.db.models import Sum

from sagas.engine import tally
from sagas.models import MetricCounter
from tests.factories import start

pytestmark = pytest.mark.django_db(transaction=True)


def totals() -> dict[tuple[str, str], float]:
    rows = MetricCounter.objects.values_list("name", "saga_type").annotate(n=Sum("value"))
    return {(name, saga_type): n for name, saga_type, n in rows.order_by()}


def test_two_threads_add_to_shards_of_their_own_and_a_fold_keeps_the_totals():
    start("ledger", {})

    def elsewhere() -> None:
        try:
            start("ledger", {})
        finally:
            connections.close_all()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join(30)
    assert totals()[("started", "ledger")] == 2
    started = MetricCounter.objects.filter(name="started", saga_type="ledger")
    assert started.values("shard").distinct().count() == 2  # one per thread
    before = totals()
    assert tally.fold() >= 1
    assert totals() == before
    assert set(started.values_list("shard", flat=True)) <= {tally.FOLDED, tally.shard()}
