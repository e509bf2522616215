"""Pruning: batched DELETEs (what sagas/services/retention.py does) against dropping a
day's partition of event and attempt tables partitioned by time, on a scratch database.

Two copies of the same data (S sagas over D days, 10 events and 4 attempts each): plain
tables shaped like sagas_sagaevent and sagas_stepattempt, and the same tables partitioned
by day on created_at. For each it prints
- removing the oldest day: batched DELETE (200 sagas per transaction: events, attempts,
  then sagas) in rows/s, against DETACH + DROP of that day's partitions;
- the latency of a concurrent writer (one transaction = 2 events + 1 attempt, at a fixed
  rate, as a worker's step commit) at rest, during the deletes and during the drop;
- the cost partitioning puts on every day: the saga timeline read (events of one saga by
  id, as the detail page and the live feed do) and the writer's latency at rest;
- then the real service (archive + delete) on a Django database: sagas/s, archive bytes.

    python bench/prune.py                      # about a minute
    python bench/prune.py --sagas 100000 --days 10 --rate 200
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import log, machine, percentile, recreate_database  # noqa: E402

EVENTS, ATTEMPTS, BATCH = 10, 4, 200

SCHEMA = """
CREATE TABLE saga (
    id uuid PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL,
    finished_at timestamptz);
CREATE INDEX saga_finished ON saga (finished_at);
CREATE TABLE {event} (
    id bigserial, saga_id uuid NOT NULL REFERENCES saga (id) DEFERRABLE INITIALLY DEFERRED,
    type text NOT NULL, status text NOT NULL, payload jsonb NOT NULL,
    created_at timestamptz NOT NULL, PRIMARY KEY ({event_key})) {partitioned};
CREATE INDEX ON {event} (saga_id, id);
CREATE TABLE {attempt} (
    id bigserial, saga_id uuid NOT NULL REFERENCES saga (id) DEFERRABLE INITIALLY DEFERRED,
    step_name text NOT NULL, status text NOT NULL, result jsonb,
    started_at timestamptz NOT NULL, created_at timestamptz NOT NULL,
    PRIMARY KEY ({attempt_key})) {partitioned};
CREATE INDEX ON {attempt} (saga_id);
"""


def build(url: str, partitioned: bool, sagas: int, days: int) -> None:
    """One layout in its own schema, filled with `sagas` sagas spread over `days` days."""
    name = "parted" if partitioned else "plain"
    key = "id, created_at" if partitioned else "id"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
        conn.execute(f"SET search_path = {name}")
        conn.execute(
            SCHEMA.format(
                event="event",
                attempt="attempt",
                event_key=key,
                attempt_key=key,
                partitioned="PARTITION BY RANGE (created_at)" if partitioned else "",
            )
        )
        if partitioned:
            for day in range(days + 1):  # + today, where the concurrent writer writes
                for table in ("event", "attempt"):
                    conn.execute(
                        f"CREATE TABLE {table}_d{day} PARTITION OF {table} FOR VALUES FROM "
                        f"(date '2026-01-01' + {day}) TO (date '2026-01-01' + {day + 1})"
                    )
        # Sagas finish the day they start (a few seconds), spread evenly over the days.
        conn.execute(
            """INSERT INTO saga SELECT gen_random_uuid(), 'completed', t, t + interval '5 s'
            FROM (SELECT timestamptz '2026-01-01' + (i * %s::float / %s) * interval '1 day' t
                  FROM generate_series(0, %s - 1) i) s""",
            (days, sagas, sagas),
        )
        conn.execute(
            """INSERT INTO event (saga_id, type, status, payload, created_at)
            SELECT s.id, 'step_succeeded', 'running', jsonb_build_object('step', n),
                   s.created_at + n * interval '0.1 s'
            FROM saga s, generate_series(1, %s) n""",
            (EVENTS,),
        )
        conn.execute(
            """INSERT INTO attempt (saga_id, step_name, status, result, started_at, created_at)
            SELECT s.id, 'step' || n, 'succeeded', '{"ok": true}', s.created_at, s.created_at
            FROM saga s, generate_series(1, %s) n""",
            (ATTEMPTS,),
        )
        conn.execute("ANALYZE")


class Writer(threading.Thread):
    """A worker's step commit at a fixed rate, into today's rows; records each latency."""

    def __init__(self, url: str, schema: str, rate: float, today: str) -> None:
        super().__init__(daemon=True)
        self.url, self.schema, self.rate, self.today = url, schema, rate, today
        self.latencies: list[tuple[float, float]] = []  # (start, seconds)
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url) as conn:
            conn.execute(f"SET search_path = {self.schema}")
            saga = conn.execute(
                "INSERT INTO saga VALUES (gen_random_uuid(), 'running', %s, NULL) RETURNING id",
                (self.today,),
            ).fetchone()[0]
            conn.commit()
            period, due = 1.0 / self.rate, time.monotonic()
            while not self.stopping.is_set():
                started = time.monotonic()
                with conn.transaction():
                    conn.execute(
                        """INSERT INTO event (saga_id, type, status, payload, created_at)
                        VALUES (%s, 'step_started', 'running', '{}', %s),
                               (%s, 'step_succeeded', 'running', '{}', %s)""",
                        (saga, self.today, saga, self.today),
                    )
                    conn.execute(
                        """INSERT INTO attempt (saga_id, step_name, status, started_at,
                        created_at) VALUES (%s, 'pay', 'succeeded', %s, %s)""",
                        (saga, self.today, self.today),
                    )
                self.latencies.append((started, time.monotonic() - started))
                due += period
                time.sleep(max(0.0, due - time.monotonic()))

    def between(self, start: float, end: float) -> list[float]:
        return [s for t, s in self.latencies if start <= t <= end]


def describe(latencies: list[float]) -> str:
    ms = [s * 1000 for s in latencies]
    return (
        f"n={len(ms)} p50 {percentile(ms, 0.5):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms, default=float('nan')):.1f} ms"
    )


def oldest_day_ids(conn: psycopg.Connection) -> list:
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM saga WHERE finished_at < timestamptz '2026-01-02' ORDER BY id"
        )
    ]


def batched_delete(url: str) -> tuple[int, float, list[float]]:
    """Delete the first day's sagas as the retention service does; (rows, seconds, per batch)."""
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path = plain")
        ids = oldest_day_ids(conn)
        conn.commit()
        rows, batches, started = 0, [], time.monotonic()
        for i in range(0, len(ids), BATCH):
            chunk = ids[i : i + BATCH]
            t = time.monotonic()
            with conn.transaction():
                for table in ("event", "attempt", "saga"):
                    column = "id" if table == "saga" else "saga_id"
                    rows += conn.execute(
                        f"DELETE FROM {table} WHERE {column} = ANY(%s)", (chunk,)
                    ).rowcount
            batches.append(time.monotonic() - t)
        return rows, time.monotonic() - started, batches


def drop_partition(url: str) -> tuple[int, float, int, float]:
    """Detach and drop the first day's partitions; then the day's saga rows, which are not
    partitioned, in batches. (rows dropped, seconds, saga rows deleted, seconds)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = parted")
        rows = sum(
            conn.execute(f"SELECT count(*) FROM {t}_d0").fetchone()[0] for t in ("event", "attempt")
        )
        started = time.monotonic()
        for table in ("event", "attempt"):
            conn.execute(f"ALTER TABLE {table} DETACH PARTITION {table}_d0")
            conn.execute(f"DROP TABLE {table}_d0")
        dropped = time.monotonic() - started
        ids = oldest_day_ids(conn)
        started = time.monotonic()
        for i in range(0, len(ids), BATCH):
            with conn.transaction():
                conn.execute("DELETE FROM saga WHERE id = ANY(%s)", (ids[i : i + BATCH],))
        return rows, dropped, len(ids), time.monotonic() - started


def timeline_reads(url: str, schema: str, n: int = 500) -> list[float]:
    with psycopg.connect(url) as conn:
        conn.execute(f"SET search_path = {schema}")
        ids = [r[0] for r in conn.execute("SELECT id FROM saga ORDER BY random() LIMIT %s", (n,))]
        took = []
        for saga_id in ids:
            t = time.monotonic()
            conn.execute(
                "SELECT * FROM event WHERE saga_id = %s ORDER BY id", (saga_id,)
            ).fetchall()
            took.append(time.monotonic() - t)
        return took


def service(sagas: int, batch: int) -> None:
    """The real retention service (archive + delete, sagas/services/retention.py) on a
    Django database of `sagas` finished sagas with 10 events and 4 attempts each."""
    import os
    import subprocess
    import tempfile
    import uuid

    url = recreate_database("sagascope_bench_prune_service")
    archive_dir = tempfile.mkdtemp(prefix="sagascope-archive-")
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SAGASCOPE_ARCHIVE_DIR": archive_dir,
        }
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, check=True)
    import django

    django.setup()
    from sagas.models import SagaEvent, SagaInstance, StepAttempt
    from sagas.services import retention

    then = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(0, sagas, 1000):
        rows = [
            SagaInstance(
                id=uuid.uuid4(),
                saga_type="order",
                status="completed",
                input={"sku": f"SKU-{i}", "amount": i % 997, "country": "AQ"},
                results={f"step{n}": {"ok": True} for n in range(ATTEMPTS)},
                definition_steps=[f"step{n}" for n in range(ATTEMPTS)],
                created_at=then + timedelta(seconds=i),
                updated_at=then + timedelta(seconds=i + 5),
                finished_at=then + timedelta(seconds=i + 5),
            )
            for i in range(start, min(sagas, start + 1000))
        ]
        SagaInstance.objects.bulk_create(rows)
        StepAttempt.objects.bulk_create(
            StepAttempt(
                saga=s,
                step_name=f"step{n}",
                step_index=n,
                phase="forward",
                attempt=1,
                idempotency_key=f"{s.id}:step{n}:forward:1",
                status="succeeded",
                started_at=s.created_at,
                finished_at=s.finished_at,
                result={"ok": True},
            )
            for s in rows
            for n in range(ATTEMPTS)
        )
        SagaEvent.objects.bulk_create(
            SagaEvent(
                saga=s,
                type="step_succeeded",
                step=f"step{n % ATTEMPTS}",
                status="running",
                version=n,
                created_at=s.created_at,
            )
            for s in rows
            for n in range(EVENTS)
        )
    began = time.monotonic()
    summary = retention.prune(then + timedelta(days=60), size=batch)
    took = time.monotonic() - began
    size = sum(p.stat().st_size for p in Path(archive_dir).rglob("*.jsonl.gz"))
    log(
        f"[service] prune_sagas (archive + delete, {batch} per batch): {summary.sagas} sagas "
        f"({summary.sagas * (1 + EVENTS + ATTEMPTS)} rows) in {took:.1f} s = "
        f"{summary.sagas / took:,.0f} sagas/s; archive {size / summary.sagas:,.0f} bytes/saga "
        f"gzipped"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sagas", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="writer commits per second")
    parser.add_argument("--rest", type=float, default=5.0, help="seconds measured at rest")
    parser.add_argument("--database", default="sagascope_bench_prune")
    parser.add_argument(
        "--service", type=int, default=5000, help="sagas pruned by the real service (0: skip)"
    )
    args = parser.parse_args()
    log(machine())
    url = recreate_database(args.database)
    # The writer's day: the partition after the last day of data.
    today = (datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=args.days)).isoformat()
    t = time.monotonic()
    build(url, False, args.sagas, args.days)
    build(url, True, args.sagas, args.days)
    per_day = args.sagas // args.days
    log(
        f"{args.sagas} sagas over {args.days} days ({per_day}/day), {EVENTS} events and "
        f"{ATTEMPTS} attempts each, in two layouts; built in {time.monotonic() - t:.0f} s"
    )

    for schema, remove in (("plain", "delete"), ("parted", "drop")):
        writer = Writer(url, schema, args.rate, today)
        writer.start()
        time.sleep(args.rest)
        rest_end = time.monotonic()
        if remove == "delete":
            rows, seconds, batches = batched_delete(url)
            detail = (
                f"batched DELETE ({BATCH} sagas per transaction): {rows} rows in {seconds:.2f} s "
                f"= {rows / seconds:,.0f} rows/s; a batch p50 "
                f"{percentile(batches, 0.5) * 1000:.0f} ms, max {max(batches) * 1000:.0f} ms"
            )
        else:
            rows, seconds, sagas, saga_seconds = drop_partition(url)
            detail = (
                f"DETACH + DROP of a day's partitions: {rows} rows in {seconds * 1000:.1f} ms "
                f"= {rows / seconds:,.0f} rows/s; then the day's {sagas} saga rows (not "
                f"partitioned) in batches: {saga_seconds:.2f} s"
            )
        busy_end = time.monotonic()
        time.sleep(0.5)
        writer.stopping.set()
        writer.join()
        reads = [s * 1000 for s in timeline_reads(url, schema)]
        log(f"[{schema}] {detail}")
        log(f"[{schema}]   writer at rest:     {describe(writer.between(0, rest_end))}")
        log(f"[{schema}]   writer meanwhile:   {describe(writer.between(rest_end, busy_end))}")
        log(
            f"[{schema}]   timeline read (one saga's events): p50 "
            f"{percentile(reads, 0.5):.2f} ms, p95 {percentile(reads, 0.95):.2f} ms"
        )
    if args.service:
        service(args.service, BATCH)


if __name__ == "__main__":
    main()
