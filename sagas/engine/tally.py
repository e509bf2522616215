"""Counters that grow with the transitions they count, written in the same transaction
(TransitionWriter.flush), so /metrics reads exact totals of every process from one table.

A process adds to its own shard of rows (host:pid), so two commits never wait on the same
counter row; `fold` merges the shards of other processes into shard "" now and then.
"""

from __future__ import annotations

import math
import os
import socket
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
    """This process's rows (read at each write: a forked child gets its own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


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
    """Merge every other process's rows into shard "", keeping the totals; returns how
    many rows went. DELETE ... RETURNING takes each row as last committed (a concurrent
    add waits for it, or for us), so no count is lost."""
    connection = connections[router.db_for_write(MetricCounter)]
    table = connection.ops.quote_name(MetricCounter._meta.db_table)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE shard <> %s AND shard <> %s "
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
