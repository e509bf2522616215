"""Counters that grow with the transitions they count, written in the same transaction
(TransitionWriter.flush), so /metrics reads exact totals of every process from one table.

Each thread of each process adds to its own shard of rows (host:pid:thread), so two commits
never wait on the same counter row, not even two requests served by threads of one web
process (one would hold the other's start until it commits); `fold` merges the other
shards into shard "" now and then.
"""

from __future__ import annotations

import math
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db import connections, router, transaction

from sagas import conf
from sagas.models import MetricCounter, SagaEvent
from sagas.statuses import EventType

# Upper bounds in seconds of the step duration histogram's buckets.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INF = "+Inf"
FOLDED = ""

FINISHED = {
    EventType.SAGA_COMPLETED.value: "completed",
    EventType.SAGA_COMPENSATED.value: "compensated",
    EventType.SAGA_FAILED.value: "failed",
}
ATTEMPT_OUTCOMES = {
    EventType.STEP_SUCCEEDED.value: "succeeded",
    EventType.STEP_FAILED.value: "failed",
    EventType.STEP_TIMED_OUT.value: "timed_out",
    EventType.STEP_SKIPPED.value: "skipped",
}
COLUMNS = ("shard", "name", "saga_type", "step", "phase", "label", "value")

Key = tuple[str, str, str, str, str]  # name, saga type, step, phase, label


def shard() -> str:
    """This thread's rows (read at each write: a forked child gets its own)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def bucket(seconds: float) -> str:
    """The label of the histogram bucket `seconds` falls in (not cumulative)."""
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return INF


class Tally:
    """What one transaction adds to the counters."""

    def __init__(self) -> None:
        self.counts: Counter[Key] = Counter()

    def add(
        self,
        name: str,
        saga_type: str = "",
        step: str = "",
        phase: str = "",
        label: str = "",
        value: float = 1.0,
    ) -> None:
        self.counts[(name, saga_type, step, phase, label)] += value

    def events(self, events: Iterable[SagaEvent], types: dict[str, str]) -> None:
        """Count sagas started and finished, attempts by outcome, retries, compensations."""
        for event in events:
            saga_type = types.get(str(event.saga_id), "")
            if event.type == EventType.SAGA_STARTED:
                self.add("started", saga_type)
            elif event.type in FINISHED:
                self.add("finished", saga_type, label=FINISHED[event.type])
            elif event.type in ATTEMPT_OUTCOMES:
                self.add(
                    "attempts", saga_type, event.step, event.phase, ATTEMPT_OUTCOMES[event.type]
                )
            elif event.type == EventType.STEP_STARTED and (event.attempt or 0) > 1:
                self.add("retries", saga_type, event.step, event.phase)
            elif event.type == EventType.COMPENSATION_STARTED:
                self.add("compensations", saga_type)

    def duration(
        self, saga_type: str, step: str, phase: str, started: datetime, finished: datetime
    ) -> None:
        seconds = max(0.0, (finished - started).total_seconds())
        if math.isfinite(seconds):
            self.add("duration", saga_type, step, phase, bucket(seconds))
            self.add("duration_sum", saga_type, step, phase, value=seconds)

    def write(self) -> None:
        """Add the counts to this process's rows; inside the caller's transaction."""
        if not self.counts or not conf.metrics_counters():
            return
        mine = shard()
        rows = [(mine, *key, value) for key, value in sorted(self.counts.items())]
        _upsert(rows)
        self.counts.clear()


def _upsert(rows: list[tuple]) -> None:
    connection = connections[router.db_for_write(MetricCounter)]
    table = connection.ops.quote_name(MetricCounter._meta.db_table)
    keys = ", ".join(COLUMNS[:-1])
    sql = (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET value = {table}.value + excluded.value"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def fold() -> int:
    """Merge every other shard's rows into shard "", keeping the totals; returns how
    many rows went. DELETE ... RETURNING takes each row as last committed, so no count is
    lost."""
    connection = connections[router.db_for_write(MetricCounter)]
    table = connection.ops.quote_name(MetricCounter._meta.db_table)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        others = f"SELECT id FROM {table} WHERE shard <> %s AND shard <> %s"
        if connection.features.has_select_for_update_skip_locked:
            # Rows a commit is adding to now are left for the next fold: waiting for them,
            # while that commit waits for a row this fold holds, would be a deadlock.
            others += " FOR UPDATE SKIP LOCKED"
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN ({others}) "
            "RETURNING name, saga_type, step, phase, label, value",
            [FOLDED, shard()],
        )
        gone = cursor.fetchall()
        merged: Counter[Key] = Counter()
        for *key, value in gone:
            merged[tuple(key)] += value
        if merged:
            _upsert([(FOLDED, *key, value) for key, value in sorted(merged.items())])
    return len(gone)
