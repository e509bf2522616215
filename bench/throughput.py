"""Throughput and latency of the orchestrator on PostgreSQL, against DBOS and pgbench.

    python bench/throughput.py [--sagas 3000] [--workers 1,2,4] [--no-dbos]

For 1, 2 and 4 `run_worker` processes it measures:
- throughput: a backlog of N sagas of four trivial local steps, released at once; sagas/s
  and steps/s until the last one completes;
- latency: sagas started one by one at a steady rate (half the measured throughput) for a
  few seconds; p50/p95 of start-to-finish time.
Then the same workload as a DBOS workflow (PyPI `dbos`, the `bench` extra) with the same
numbers of processes, on the same PostgreSQL server in the same run, and the ratio. Last,
what `pgbench` commits for one step's transaction (update a saga row, insert an event
row): the ceiling the database sets. Every figure printed is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import psycopg

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    log,
    machine,
    machine_info,
    percentile,
    recreate_database,
    stop,
    write_json,
)

# sagascope


class Sagascope:
    def __init__(self, url: str, batch_size: int) -> None:
        self.url = url
        self.batch_size = batch_size
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "PYTHONPATH": str(ROOT),
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )
        os.environ.update({"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings"})
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()

    def reset(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE sagas_sagainstance CASCADE")

    def load(self, count: int) -> None:
        """Insert `count` sagas that are not yet due, in large transactions."""
        from datetime import timedelta

        from django.db import transaction

        from sagas.engine import statemachine
        from sagas.engine.leases import database_now
        from sagas.engine.store import TransitionWriter
        from sagas.models import SagaInstance
        from sagas.registry import registry

        definition = registry.get("bench_trivial")
        for start in range(0, count, 1000):
            with transaction.atomic():
                now = database_now()
                writer = TransitionWriter()
                for i in range(start, min(count, start + 1000)):
                    row = SagaInstance(
                        id=uuid.uuid4(),
                        saga_type="bench_trivial",
                        input={"n": i},
                        created_at=now,
                        definition_steps=definition.step_names(),
                    )
                    transition = statemachine.start(str(row.id), definition, now)
                    writer.add(row, [transition], "bench", now, new=True)
                    row.next_run_at = now + timedelta(days=1)
                writer.flush()

    def workers(
        self, count: int, observed: bool = True, timings: str | None = None
    ) -> list[subprocess.Popen]:
        """`observed`: metrics totals written and the alert rules evaluated (the defaults);
        `timings`: a directory where each worker writes where its time went (bench's
        run_timed_worker), read by `read_breakdown`. Returns once every worker runs its loop."""
        from sagas.models import ProcessHeartbeat

        ids = [f"bench-{i}" for i in range(count)]
        ProcessHeartbeat.objects.filter(process_id__in=ids).delete()  # a killed run's leftovers
        on = "1" if observed else "0"
        env = {**self.env, "SAGASCOPE_METRICS_COUNTERS": on, "SAGASCOPE_ALERTS": on}
        command = ["run_worker"] if timings is None else ["run_timed_worker"]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    *command,
                    *(["--timings", f"{timings}/{i}.json"] if timings else []),
                    "--batch-size",
                    str(self.batch_size),
                    "--poll",
                    "0.2",
                    "--id",
                    worker_id,
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, worker_id in enumerate(ids)
        ]
        wait_ready(ids, procs)
        return procs

    def active(self) -> int:
        from sagas.models import SagaInstance
        from sagas.statuses import ACTIVE_STATUSES

        return SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).count()

    def release(self) -> float:
        """Make every loaded saga due now and wake the workers; returns the wall time."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sagas_sagainstance SET next_run_at = now() "
                "WHERE status = 'running'; NOTIFY sagascope_due"
            )
        return time.time()

    def throughput(self, count: int, processes: int, observed: bool = True) -> dict[str, float]:
        """`observed`: the workers write the /metrics totals and /metrics is scraped every
        second meanwhile; otherwise neither (problem grouping is always on)."""
        self.reset()
        self.load(count)
        procs = self.workers(processes, observed=observed)
        scraper = Scraper() if observed else None
        try:
            started = self.release()
            if scraper is not None:
                scraper.start()
            while self.active():
                time.sleep(0.02)
            elapsed = time.time() - started
        finally:
            if scraper is not None:
                scraper.stop()
            stop(procs)
        return {"sagas_s": count / elapsed, "steps_s": 4 * count / elapsed, "seconds": elapsed}

    def latency(self, rate: float, seconds: float, processes: int) -> dict[str, float]:
        from django.db.models import F

        from sagas.models import SagaInstance
        from sagas.services.start import start_saga

        self.reset()
        timings = tempfile.mkdtemp(prefix="sagascope-timings-")
        procs = self.workers(processes, timings=timings)
        try:
            began = time.time()
            i = 0
            while time.time() < began + seconds:
                due = began + i / rate
                if due > time.time():
                    time.sleep(due - time.time())
                start_saga("bench_trivial", {"n": i})
                i += 1
            deadline = time.time() + 60
            while self.active() and time.time() < deadline:
                time.sleep(0.05)
        finally:
            stop(procs)
        rows = (
            SagaInstance.objects.filter(status="completed")
            .annotate(took=F("finished_at") - F("created_at"))
            .values_list("took", flat=True)
        )
        latencies = [t.total_seconds() for t in rows]
        breakdown = read_breakdown(timings, len(latencies))
        shutil.rmtree(timings, ignore_errors=True)
        return {
            "count": i,
            "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95),
            "completed": len(latencies),
            "breakdown": breakdown,
        }


def wait_ready(ids: list[str], procs: list[subprocess.Popen], bound: float = 120) -> None:
    """Until every worker has started its loop (its first heartbeat is written just before):
    a fixed sleep measured the start-up of the slower ones as saga latency."""
    from sagas.models import ProcessHeartbeat

    deadline = time.monotonic() + bound
    while ProcessHeartbeat.objects.filter(process_id__in=ids).count() < len(ids):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            stop(procs)
            raise SystemExit(f"the workers did not start within {bound:.0f}s")
        time.sleep(0.05)


def read_breakdown(directory: str, sagas: int) -> dict[str, dict[str, float]]:
    """Each part of the workers' loop, summed over the workers: milliseconds and database
    round trips per completed saga (the idle wait included, as the time nothing was due)."""
    parts: dict[str, dict[str, float]] = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as f:
            timings = json.load(f)
        for part, t in timings["parts"].items():
            row = parts.setdefault(part, {"ms_per_saga": 0.0, "queries_per_saga": 0.0})
            row["ms_per_saga"] += 1000 * t["seconds"] / max(sagas, 1)
            row["queries_per_saga"] += t["queries"] / max(sagas, 1)
        # SAGASCOPE_BENCH_STATEMENTS=1: which statements those round trips were
        for statement, count in sorted(timings.get("statements", {}).items(), key=lambda x: -x[1]):
            log(f"    {count / max(sagas, 1):5.1f}/saga  {' '.join(statement.split())[:110]}")
    return parts


def format_breakdown(parts: dict[str, dict[str, float]]) -> str:
    return "  ".join(
        f"{part.strip('_')} {row['ms_per_saga']:.1f}ms/{row['queries_per_saga']:.1f}q"
        for part, row in parts.items()
        if row["ms_per_saga"] >= 0.05 or row["queries_per_saga"] >= 0.05
    )


class Scraper:
    """/metrics read once a second from another thread, as Prometheus would (more often)."""

    def __init__(self) -> None:
        import threading

        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.scrapes = 0

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        from django.db import connections
        from prometheus_client.exposition import generate_latest

        from sagas.services import metrics

        while not self.done.wait(1.0):
            generate_latest(metrics.registry())
            self.scrapes += 1
        connections.close_all()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(10)


# DBOS


class Dbos:
    def __init__(self, url: str) -> None:
        self.url = url.replace("postgres://", "postgresql://")
        self.script = ROOT / "bench" / "dbos_workload.py"

    def throughput(self, count: int, processes: int) -> dict[str, float]:
        url = self.url
        with psycopg.connect(url.replace("postgresql://", "postgres://"), autocommit=True) as c:
            c.execute("DROP SCHEMA IF EXISTS dbos CASCADE")
        start_at = time.time() + 8  # let every process launch DBOS first
        per = count // processes
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(self.script),
                    "--url",
                    url,
                    "--executor-id",
                    f"p{i}",
                    "--count",
                    str(per),
                    "--start-at",
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for i in range(processes)
        ]
        results = [
            json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs
        ]
        elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
        done = per * processes
        return {"sagas_s": done / elapsed, "steps_s": 4 * done / elapsed, "seconds": elapsed}

    def latency(self, rate: float, seconds: float) -> dict[str, float]:
        with psycopg.connect(
            self.url.replace("postgresql://", "postgres://"), autocommit=True
        ) as c:
            c.execute("DROP SCHEMA IF EXISTS dbos CASCADE")
        out = subprocess.run(
            [
                sys.executable,
                str(self.script),
                "--url",
                self.url,
                "--executor-id",
                "lat",
                "--rate",
                str(rate),
                "--seconds",
                str(seconds),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        lat = result["latencies"]
        return {
            "count": result["count"],
            "p50": percentile(lat, 0.5),
            "p95": percentile(lat, 0.95),
            "completed": len(lat),
        }


# pgbench


PGBENCH_SCRIPT = """\\set id random(1, 10000)
BEGIN;
UPDATE bench_saga SET version = version + 1, updated_at = now() WHERE id = :id;
INSERT INTO bench_event (saga_id, type, payload, created_at)
  VALUES (:id, 'step_succeeded', '{"attempt": 1}', now());
END;
"""


def pgbench(url: str, seconds: int, clients: int) -> float | None:
    if shutil.which("pgbench") is None:
        log("pgbench not found (apt-get install postgresql-client); skipping the ceiling")
        return None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_event, bench_saga")
        conn.execute(
            "CREATE TABLE bench_saga (id int PRIMARY KEY, version int NOT NULL, "
            "updated_at timestamptz NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE bench_event (id bigserial PRIMARY KEY, saga_id int NOT NULL, "
            "type text NOT NULL, payload jsonb NOT NULL, created_at timestamptz)"
        )
        conn.execute("INSERT INTO bench_saga SELECT g, 1, now() FROM generate_series(1, 10000) g")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    out = subprocess.run(
        [
            "pgbench",
            "-n",
            "-f",
            script.name,
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("tps ="))
    return float(line.split()[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sagas", type=int, default=3000, help="backlog per throughput run")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    parser.add_argument("--batch-size", type=int, default=100, help="run_worker --batch-size")
    parser.add_argument("--latency-seconds", type=float, default=8.0)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument(
        "--observability",
        action="store_true",
        help="also run each throughput with the /metrics totals and the alert rules off and "
        "no scraping, and print the cost of having them on (same run, same database)",
    )
    parser.add_argument(
        "--latency-only",
        type=float,
        metavar="RATE",
        help="measure only the latency, at RATE sagas/s (no throughput, no pgbench)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]

    info = machine_info()
    log(f"machine: {machine(info)}")
    ours = Sagascope(recreate_database("sagascope_bench"), args.batch_size)
    dbos = None if args.no_dbos else Dbos(recreate_database("dbos_bench"))
    results: dict[int, dict[str, dict[str, float]]] = {}
    for n in counts if args.latency_only is None else []:
        row = results[n] = {"sagascope": ours.throughput(args.sagas, n)}
        log(
            f"throughput  sagascope {n} worker(s): {row['sagascope']['sagas_s']:7.0f} sagas/s "
            f"{row['sagascope']['steps_s']:7.0f} steps/s"
        )
        if args.observability:
            row["sagascope_bare"] = ours.throughput(args.sagas, n, observed=False)
            on, off = row["sagascope"]["sagas_s"], row["sagascope_bare"]["sagas_s"]
            log(
                f"observability {n} worker(s): {off:7.0f} sagas/s bare, {on:7.0f} with metrics "
                f"counters, alert rules and a scrape a second: {on / off - 1:+.1%}"
            )
        if dbos is not None:
            row["dbos"] = dbos.throughput(args.sagas, n)
            log(
                f"throughput  DBOS      {n} process(es): {row['dbos']['sagas_s']:5.0f} wf/s    "
                f"{row['dbos']['steps_s']:7.0f} steps/s"
            )
    log("latency: sagas started one at a time at half the slower system's throughput")
    latencies: dict[int, dict[str, object]] = {}
    for n in counts:
        rate = args.latency_only or max(5.0, min(r["sagas_s"] for r in results[n].values()) / 2)
        lat = ours.latency(rate, args.latency_seconds, n)
        latencies[n] = {"rate": rate, "sagascope": lat}
        log(
            f"latency     sagascope {n} worker(s) at {rate:4.0f}/s: p50 {lat['p50'] * 1000:6.1f} ms"
            f"  p95 {lat['p95'] * 1000:6.1f} ms  ({lat['completed']}/{lat['count']} completed)"
        )
        log(f"  per saga, all workers: {format_breakdown(lat['breakdown'])}")
        if dbos is not None:
            lat = latencies[n]["dbos"] = dbos.latency(rate, args.latency_seconds)
            log(
                f"latency     DBOS      1 process   at {rate:4.0f}/s: "
                f"p50 {lat['p50'] * 1000:6.1f} ms  p95 {lat['p95'] * 1000:6.1f} ms  "
                f"({lat['completed']}/{lat['count']} completed)"
            )
    if args.latency_only is not None:
        write_json(args.json, info, {"latency": latencies})
        return
    ratios: dict[int, float] = {}
    best_ratio = None
    if dbos is not None:
        for n in counts:
            ratio = ratios[n] = results[n]["sagascope"]["steps_s"] / results[n]["dbos"]["steps_s"]
            log(f"ratio at {n}: sagascope / DBOS steps/s = {ratio:.1f}x")
        best_ours = max(r["sagascope"]["steps_s"] for r in results.values())
        best_dbos = max(r["dbos"]["steps_s"] for r in results.values())
        best_ratio = best_ours / best_dbos
        log(
            f"best against best: {best_ours:.0f} / {best_dbos:.0f} steps/s = "
            f"{best_ours / best_dbos:.1f}x"
        )

    tps = pgbench(ours.url, args.pgbench_seconds, clients=4)
    best = max(r["sagascope"]["steps_s"] for r in results.values())
    if tps is not None:
        log(
            f"pgbench ceiling: {tps:.0f} step transactions/s (update saga + insert event, "
            f"4 clients); sagascope's best is {best / tps:.0%} of it"
        )
    write_json(
        args.json,
        info,
        {
            "throughput": results,
            "latency": latencies,
            "ratio_vs_dbos": ratios,
            "best_ratio_vs_dbos": best_ratio,
            "pgbench_tps": tps,
            "pgbench_clients": 4,
            "best_steps_s": best,
            "share_of_pgbench": best / tps if tps else None,
        },
    )


if __name__ == "__main__":
    main()
