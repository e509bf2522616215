"""The live dashboard's figures: push latency, and page server times at a million sagas.

    python bench/live_latency.py [--rate 10] [--seconds 20] [--clients 1,100] [--workers 2]
                                 [--sagas 1000000] [--no-push] [--no-pages]

1. Push latency. One daphne process and `--workers` run_worker processes on PostgreSQL,
   joined by channels-redis; `--clients` websocket clients on the list feed (every change
   of every saga). Sagas of four local steps start at `--rate` per second for `--seconds`.
   For each row a client receives: its receive time minus the time its transaction
   committed (the broadcaster stamps `committed_at` in the worker right after COMMIT; one
   machine, one clock). p50/p95/p99 over every row every client received.
2. Page server times. `--sagas` sagas bulk-inserted with generate_series (five types,
   realistic statuses, a month of start times), a million events, and one saga of 50
   steps with 250 attempts and 500 events; VACUUM ANALYZE; then each page requested
   through Django's full stack (middleware, templates) in this process, p50/p95 of 20 runs.

Uses the databases `dashboard_bench` (dropped and created) and Redis on 127.0.0.1:6379.
Every figure printed is measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    log,
    machine,
    machine_info,
    percentile,
    recreate_database,
    stop,
    write_json,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "REDIS_URL": REDIS_URL,
        "CHANNEL_LAYER_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "PYTHONPATH": str(ROOT),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The 100 clients stand for 100 browsers but log in as one user, whose sockets the
        # server caps at 8 (a browser's tabs); the cap is not what this bench measures.
        "SAGASCOPE_LIVE_SOCKETS_PER_USER": "1000",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update(env)
    import django

    django.setup()
    return env


def operator_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


# 1. Push latency


class Server:
    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkdtemp(prefix="live_latency-")) / "server.log"
        out = self.log.open("ab")
        quiet = {"stdout": out, "stderr": subprocess.STDOUT}
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
                + ["config.asgi:application"],
                cwd=ROOT,
                env=env,
                **quiet,
            )
        ]
        self.procs += [
            subprocess.Popen(
                [sys.executable, "manage.py", "run_worker", "--poll", "0.2", "--id", f"live-{i}"],
                cwd=ROOT,
                env=env,
                **quiet,
            )
            for i in range(workers)
        ]
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        stop(self.procs)


async def client(url: str, cookie: str, latencies: list[float], ready: asyncio.Event, done):
    from websockets.asyncio.client import connect

    # The page's own origin (scheme, host and port): the server refuses any other.
    origin = "http://" + url.split("://", 1)[1].split("/", 1)[0]
    async with connect(
        url, origin=origin, additional_headers={"Cookie": cookie}, max_size=None
    ) as ws:
        json.loads(await ws.recv())  # the snapshot
        ready.set()
        while not done.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            received = time.time()
            frame = json.loads(raw)
            if frame.get("type") == "sagas":
                latencies.extend(received - row["committed_at"] for row in frame["sagas"])


def start_load(rate: float, seconds: float) -> int:
    from django.db import close_old_connections

    from sagas.services.start import start_saga

    began, started = time.time(), 0
    while time.time() < began + seconds:
        due = began + started / rate
        if due > time.time():
            time.sleep(due - time.time())
        start_saga("bench_trivial", {"n": started})
        started += 1
    close_old_connections()
    return started


def wait_settled(timeout: float = 120) -> None:
    from sagas.models import SagaInstance
    from sagas.statuses import ACTIVE_STATUSES

    deadline = time.monotonic() + timeout
    while SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("sagas still active")
        time.sleep(0.1)


async def measure_push(
    port: int, cookie: str, clients: int, rate: float, seconds: float
) -> dict[str, float]:
    url = f"ws://127.0.0.1:{port}/ws/sagas/"
    per_client: list[list[float]] = [[] for _ in range(clients)]
    readies = [asyncio.Event() for _ in range(clients)]
    done = asyncio.Event()
    tasks = [
        asyncio.create_task(client(url, cookie, per_client[i], readies[i], done))
        for i in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=120)
    started = await asyncio.to_thread(start_load, rate, seconds)
    await asyncio.to_thread(wait_settled)
    await asyncio.sleep(2)  # the last coalesced frames
    done.set()
    await asyncio.gather(*tasks)
    every = [1000 * x for values in per_client for x in values]
    return {
        "sagas": started,
        "rows": len(every),
        "rows_per_client": len(every) / clients,
        "p50": percentile(every, 0.50),
        "p95": percentile(every, 0.95),
        "p99": percentile(every, 0.99),
        "max": max(every) if every else float("nan"),
    }


def push_latency(env: dict[str, str], args: argparse.Namespace) -> dict[int, dict[str, float]]:
    from django.db import connection

    client = operator_client()
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    log(
        f"\n== push latency: list feed, {args.workers} worker process(es), 1 daphne, "
        f"channels-redis; {args.rate:g} sagas/s x 4 steps for {args.seconds:g} s"
    )
    server = Server(env, args.workers)
    figures: dict[int, dict[str, float]] = {}
    try:
        time.sleep(2)
        for clients in args.clients:
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE sagas_sagainstance CASCADE")
            try:
                r = asyncio.run(measure_push(server.port, cookie, clients, args.rate, args.seconds))
            except Exception:
                log(f"failed; the server's log is {server.log}")
                raise
            figures[clients] = r
            log(
                f"{clients:>4} client(s): {r['sagas']} sagas, {r['rows_per_client']:.0f} rows "
                f"per client; commit -> client p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
                f"p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms"
            )
    finally:
        server.close()
    return figures


# 2. Page server times at N sagas

TYPES = "ARRAY['order', 'order', 'order', 'refund', 'bench_trivial']"
# 47 countries: "AQ" holds about 2% of the sagas, as a rare destination would.
# The example queries, growing one term at a time (sagas/services/saga_query).
SEARCHES = [
    'input.country = "AQ"',
    'type = order AND input.country = "AQ"',
    'type = order AND input.country = "AQ" AND input.amount > 1000',
    'type = order AND input.country = "AQ" AND input.amount > 1000'
    " AND status IN (failed, compensated)",
    'type = order AND input.country = "AQ" AND input.amount > 1000'
    ' AND status IN (failed, compensated) AND error ~ "declined" AND started > -24h',
    "input.amount > 19990",
    'input.sku = "SKU-7" AND status = compensated',
]
COUNTRIES = (
    "ARRAY["
    + ", ".join(f"'{c}'" for c in ["AQ", *(f"{a}{b}" for a in "FGIN" for b in "ABCDEFGHIJKL")][:47])
    + "]"
)
STEPS = '["create_order", "reserve_inventory", "charge_payment", "schedule_shipping", "notify"]'


def bulk_insert(count: int) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE sagas_sagainstance CASCADE")
        cursor.execute(
            f"""
            INSERT INTO sagas_sagainstance (
                id, saga_type, status, correlation_id, input, results, current_step, phase,
                attempt, failures, in_flight, possibly_done, generations, compensation_plan,
                reason, definition_steps, definition_fingerprint, version, trace_id, span_id,
                lease_epoch, request_hash, created_by, created_at, updated_at, finished_at,
                trace_parent_id, possibly_done_earlier, compensation_cause, sensitive_hashes)
            SELECT gen_random_uuid(), ({TYPES})[1 + n %% 5], status,
                   'ord-' || lpad(n::text, 8, '0'),
                   jsonb_build_object('sku', 'SKU-' || (n %% 400), 'qty', 1 + n %% 3,
                                      'amount', 10 + (n * 37) %% 20000,
                                      'country', ({COUNTRIES})[1 + n %% 47]),
                   '{{}}'::jsonb, CASE WHEN status = 'failed' THEN 2 ELSE 4 END, 'forward',
                   1, 0, false, false, '{{}}'::jsonb, '[]'::jsonb,
                   CASE WHEN status = 'failed' THEN 'compensation of step ''charge_payment'' '
                        || 'failed after 5 attempt(s): refund service down'
                        WHEN status = 'compensated' AND n %% 3 = 0
                        THEN 'charge_payment refused: card declined' ELSE '' END,
                   '{STEPS}'::jsonb, '', 12, md5(n::text), '', 1, '', 'bench',
                   ts, ts + (1 + n %% 7) * interval '1 second',
                   CASE WHEN status IN ('completed', 'compensated')
                        THEN ts + (0.2 + (n %% 50) / 10.0) * interval '1 second' END,
                   '', false,
                   CASE WHEN status = 'compensated' AND n %% 3 = 0 THEN 'refusal'
                        WHEN status = 'compensated' THEN 'failure' ELSE '' END,
                   '{{}}'::jsonb
              FROM (SELECT n, now() - n * interval '2.5 seconds' AS ts,
                           CASE WHEN n %% 1000 = 0 THEN 'failed'
                                WHEN n %% 500 = 1 THEN 'running'
                                WHEN n %% 500 = 2 THEN 'compensating'
                                WHEN n %% 16 = 3 THEN 'compensated'
                                ELSE 'completed' END AS status
                      FROM generate_series(1, %s) AS n) AS s
            """,
            [count],
        )
        cursor.execute(
            """
            INSERT INTO sagas_sagaevent (saga_id, type, step, phase, attempt, status, version,
                                         payload, actor, created_at)
            SELECT s.id, 'step_succeeded', 'create_order', 'forward', k, s.status, k,
                   '{"idempotency_key": "k"}'::jsonb, 'bench', s.created_at
              FROM (SELECT id, status, created_at FROM sagas_sagainstance
                     ORDER BY created_at DESC LIMIT 200000) AS s,
                   generate_series(1, 5) AS k
            """
        )
        wide = str(uuid.uuid4())
        steps = json.dumps([f"step{i:02d}" for i in range(50)])
        cursor.execute(
            """
            INSERT INTO sagas_sagainstance (
                id, saga_type, status, correlation_id, input, results, current_step, phase,
                attempt, failures, in_flight, possibly_done, generations, compensation_plan,
                reason, definition_steps, definition_fingerprint, version, trace_id, span_id,
                lease_epoch, request_hash, created_by, created_at, updated_at, finished_at,
                trace_parent_id, possibly_done_earlier, compensation_cause, sensitive_hashes)
            VALUES (%s, 'wide', 'completed', 'wide-1', '{}'::jsonb, '{}'::jsonb, 49, 'forward',
                    5, 0, false, false, '{}'::jsonb, '[]'::jsonb, '', %s::jsonb, '', 501, '',
                    '', 1, '', 'bench', now() - interval '10 minutes', now(), now(), '', false,
                    '', '{}'::jsonb)
            """,
            [wide, steps],
        )
        cursor.execute(
            """
            INSERT INTO sagas_stepattempt (saga_id, step_name, step_index, phase, attempt,
                generation, idempotency_key, status, started_at, finished_at, result,
                error_type, error_message, error_traceback, span_id, duplicates)
            SELECT %s, 'step' || lpad(i::text, 2, '0'), i, 'forward', a, 1,
                   %s || ':step' || lpad(i::text, 2, '0') || ':forward:1',
                   CASE WHEN a = 5 THEN 'succeeded' ELSE 'failed' END,
                   now() - interval '10 minutes' + (i * 5 + a) * interval '2 seconds',
                   now() - interval '10 minutes' + (i * 5 + a) * interval '2 seconds'
                       + interval '1 second',
                   '{"ok": true}'::jsonb,
                   CASE WHEN a < 5 THEN 'ConnectionError' ELSE '' END,
                   CASE WHEN a < 5 THEN 'upstream reset the connection' ELSE '' END, '', '',
                   0
              FROM generate_series(0, 49) AS i, generate_series(1, 5) AS a
            """,
            [wide, wide],
        )
        cursor.execute(
            """
            INSERT INTO sagas_sagaevent (saga_id, type, step, phase, attempt, status, version,
                                         payload, actor, created_at)
            SELECT %s, CASE WHEN e %% 2 = 0 THEN 'step_started' ELSE 'step_failed' END,
                   'step' || lpad((e / 10)::text, 2, '0'), 'forward', 1 + (e %% 10) / 2,
                   'running', e, '{"error": {"type": "E", "message": "reset"}}'::jsonb, 'bench',
                   now() - interval '10 minutes' + e * interval '1 second'
              FROM generate_series(0, 499) AS e
            """,
            [wide],
        )
    return wide


def vacuum() -> None:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    with psycopg.connect(autocommit=True, **params) as conn:
        conn.execute("VACUUM ANALYZE")


def timed(client, path: str, runs: int = 20) -> tuple[float, float]:
    for _ in range(2):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        times.append(1000 * (time.perf_counter() - began))
        assert response.status_code == 200, path
    return percentile(times, 0.5), percentile(times, 0.95)


def page_times(args: argparse.Namespace) -> dict[str, object]:
    import re
    from datetime import timedelta

    from sagas.models import SagaInstance

    log(f"\n== page server times at {args.sagas:,} sagas (PostgreSQL, full Django stack)")
    began = time.monotonic()
    wide = bulk_insert(args.sagas)
    vacuum()
    loaded = time.monotonic() - began
    log(f"bulk insert and VACUUM ANALYZE: {loaded:.0f} s")
    client = operator_client()
    some = SagaInstance.objects.filter(status="compensated").order_by("-created_at").first()
    first = client.get("/sagas/?type=order").content.decode()
    cursor = re.search(r'href="\?([^"]*cursor=[^"]+)" rel="next"', first).group(1)
    middle = SagaInstance.objects.order_by("-created_at")[args.sagas // 2].created_at
    hour = "%Y-%m-%dT%H:%M"
    window = f"from={middle.strftime(hour)}&to={(middle + timedelta(hours=1)).strftime(hour)}"
    pages = [
        ("overview", "/"),
        ("list, no filter", "/sagas/"),
        ("list, type=order", "/sagas/?type=order"),
        ("list, type=order, page 2 (cursor)", "/sagas/?" + cursor.replace("&amp;", "&")),
        ("list, status=failed", "/sagas/?status=failed"),
        ("list, type=order&status=compensated", "/sagas/?type=order&status=compensated"),
        ("list, type=refund (not in the registry)", "/sagas/?type=refund"),
        ("list, one hour in the middle", "/sagas/?" + window),
        ("list, search correlation id", f"/sagas/?q=ord-{args.sagas // 3:08d}"),
        ("list, search saga id", f"/sagas/?q={some.id}"),
        *((f"search: {query}", "/sagas/?" + urlencode({"q": query})) for query in SEARCHES),
        ("detail, 5-step saga", f"/sagas/{some.id}/"),
        ("detail, 50 steps, 250 attempts, 500 events", f"/sagas/{wide}/"),
        ("outbox", "/outbox/"),
    ]
    from dashboard.overview import terminal_counts

    terminal_counts.reset()
    began = time.perf_counter()
    assert client.get("/").status_code == 200
    cold = 1000 * (time.perf_counter() - began)
    log(f"{'overview, first request (counts the baseline)':<44} {cold:6.1f} ms, once per 10 min")
    times: dict[str, dict[str, float]] = {}
    for name, path in pages:
        p50, p95 = timed(client, path)
        times[name] = {"p50": p50, "p95": p95}
        log(f"{name:<44} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    return {"sagas": args.sagas, "load_seconds": loaded, "overview_cold_ms": cold, "pages": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--clients", type=lambda v: [int(x) for x in v.split(",")], default=[1, 100]
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sagas", type=int, default=1_000_000)
    parser.add_argument("--no-push", action="store_true")
    parser.add_argument("--no-pages", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    info = machine_info()
    log(machine(info))
    env = setup(recreate_database("dashboard_bench"))
    figures: dict[str, object] = {
        "rate": args.rate,
        "seconds": args.seconds,
        "workers": args.workers,
    }
    if not args.no_push:
        figures["push"] = push_latency(env, args)
    if not args.no_pages:
        figures["pages"] = page_times(args)
    write_json(args.json, info, figures)


if __name__ == "__main__":
    main()
