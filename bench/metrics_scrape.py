"""/metrics and the Problems page: server time at 1M sagas, 100,000 of them failed across
1,000 problem groups.

    python bench/metrics_scrape.py [--sagas 1000000] [--scrapes 200]

Builds the data set with bulk SQL (generate_series) in a fresh PostgreSQL database: the
sagas (10% failed, each in one of 1,000 open groups, a few hundred running), 200,000 sent
commands with pending ones and dead letters across 10 destinations, the counter rows of 20
processes and 10 process heartbeats; then VACUUM ANALYZE, and times the /metrics view
(token check, every query, prometheus-client's text) `--scrapes` times, then the Problems
page (as a logged-in operator, through the whole middleware stack) and GET /api/problems as
many times. Prints p50/p95/max of each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    log,
    machine,
    machine_info,
    percentile,
    recreate_database,
    write_json,
)

TOKEN = "bench-metrics-token"

SAGAS = """
INSERT INTO sagas_sagainstance (
    id, saga_type, status, correlation_id, input, results, current_step, phase, attempt,
    failures, in_flight, possibly_done, possibly_done_earlier, generations, compensation_plan,
    reason, definition_steps, definition_fingerprint, version, trace_id, span_id,
    trace_parent_id, lease_epoch, request_hash, created_by, created_at, updated_at,
    finished_at, next_run_at, problem_id)
SELECT gen_random_uuid(), 'type' || (g %% 5),
       CASE WHEN g %% 10 = 0 THEN 'failed' WHEN g %% 2500 = 1 THEN 'running' ELSE 'completed' END,
       'c' || g, '{}', '{}', 0, 'forward', 1, 0, false, false, false, '{}', '[]', '',
       '["a","b","c","d"]', '', 5, '', '', '', 1, '', '', now() - g * interval '1 second',
       now(), CASE WHEN g %% 2500 = 1 THEN NULL ELSE now() END,
       CASE WHEN g %% 2500 = 1 THEN now() ELSE NULL END,
       CASE WHEN g %% 10 = 0 THEN (SELECT min(id) FROM sagas_problem) + (g / 10) %% 1000 END
  FROM generate_series(1, %s) AS g
"""

PROBLEMS = """
INSERT INTO sagas_problem (fingerprint, saga_type, step, phase, error_type, message, sample,
    first_seen, last_seen, open_count, total_count, hourly, status, note, ticket_url)
SELECT md5(g::text), 'type' || (g %% 5), 'step' || (g %% 4), 'forward', 'ConnectionError',
       'service ' || g || ' down', '', now(), now(), 100, 100, '{}', 'open', '', ''
  FROM generate_series(1, 1000) AS g
"""

OUTBOX = """
INSERT INTO sagas_outboxmessage (message_id, kind, destination, headers, body, status,
    attempts, available_at, created_at, sent_at, last_error, sender)
SELECT gen_random_uuid(), 'command', 'dest' || (g %% 10), '{}', '{}',
       CASE WHEN g %% 100 = 0 THEN 'dead' WHEN g %% 200 = 1 THEN 'pending' ELSE 'sent' END,
       1, now(), now() - g * interval '1 second', now(), '', ''
  FROM generate_series(1, 200000) AS g
"""

COUNTERS = """
INSERT INTO sagas_metriccounter (shard, name, saga_type, step, phase, label, value)
SELECT 'host:' || p, n.name, 'type' || t, s.step, s.phase, l.label, 1000
  FROM generate_series(1, 20) AS p, generate_series(0, 4) AS t,
       (VALUES ('attempts'), ('duration'), ('retries')) AS n(name),
       (VALUES ('a', 'forward'), ('b', 'forward'), ('c', 'forward'), ('d', 'forward'),
               ('a', 'compensation'), ('b', 'compensation')) AS s(step, phase),
       (VALUES ('0.005'), ('0.01'), ('0.05'), ('0.1'), ('1.0'), ('succeeded'), ('failed'))
           AS l(label)
"""

HEARTBEATS = """
INSERT INTO sagas_processheartbeat (process_id, kind, name, host, pid, started_at, last_beat,
    lease_seconds, leases_held, transitions, transitions_per_second)
SELECT 'host:' || g, 'worker', '', 'host', g, now(), now(), 30, 10, 1000, 50
  FROM generate_series(1, 10) AS g
"""


def build(url: str, sagas: int) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    from django.db import connection

    began = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(PROBLEMS, [])
        cursor.execute(SAGAS, [sagas])
        cursor.execute(OUTBOX, [])
        cursor.execute(COUNTERS, [])
        cursor.execute(HEARTBEATS, [])
    connection.close()
    connection.connection = None
    with connection.cursor() as cursor:
        connection.connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
    log(f"built {sagas} sagas and the rest in {time.monotonic() - began:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sagas", type=int, default=1_000_000)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    url = recreate_database("sagascope_metrics_bench")
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SAGASCOPE_METRICS_TOKEN": TOKEN,
        }
    )
    import django

    django.setup()
    info = machine_info()
    log(f"machine: {machine(info)}")
    build(url, args.sagas)

    from django.test import RequestFactory

    from sagas.api.metrics import metrics_view
    from sagas.models import SagaInstance

    failed = SagaInstance.objects.filter(status="failed").count()
    request = RequestFactory().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    times = []
    for _ in range(args.scrapes):
        began = time.perf_counter()
        response = metrics_view(request)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200, response.content
    lines = response.content.decode().count("\n")
    log(
        f"/metrics at {args.sagas} sagas ({failed} failed, 1000 groups), {args.scrapes} "
        f"scrapes of {lines} lines: p50 {percentile(times, 0.5) * 1000:.1f} ms, "
        f"p95 {percentile(times, 0.95) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
    )
    figures = {"metrics": summary(times)}
    figures.update(time_problems(args.scrapes))
    write_json(
        args.json,
        info,
        {"sagas": args.sagas, "failed": failed, "groups": 1000, "lines": lines, **figures},
    )


def summary(times: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(times, 0.5) * 1000,
        "p95_ms": percentile(times, 0.95) * 1000,
        "max_ms": max(times) * 1000,
    }


def time_problems(n: int) -> dict[str, dict[str, float]]:
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    operator = get_user_model().objects.create_superuser("bench", password="bench-pw-12345")
    page = Client(HTTP_HOST="127.0.0.1")  # an address ALLOWED_HOSTS takes
    page.force_login(operator)
    out = StringIO()
    call_command("create_api_token", "bench-problems", "--scope", "read", stdout=out)
    token = next(w for w in out.getvalue().split() if w.startswith("sgs_"))
    api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    figures = {}
    for key, label, get in (
        ("problems_page", "the Problems page", lambda: page.get("/problems/")),
        ("problems_api", "GET /api/problems", lambda: api.get("/api/problems")),
    ):
        times = []
        for _ in range(n):
            began = time.perf_counter()
            response = get()
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, response.content[:300]
        log(
            f"{label} (1000 groups, 200 shown), {n} requests: "
            f"p50 {percentile(times, 0.5) * 1000:.1f} ms, "
            f"p95 {percentile(times, 0.95) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
        )
        figures[key] = summary(times)
    return figures


if __name__ == "__main__":
    main()
