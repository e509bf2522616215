"""From the first failure to the alert at the webhook, with real workers on PostgreSQL.

    python bench/alert_latency.py [--sagas 50] [--workers 2] [--runs 3]

Each run: a fresh database, `--workers` run_worker processes (which evaluate the alert
rules, one at a time, and deliver alerts), the default rules, one signed webhook served
by this script, then `--sagas` orders that all fail for one cause (the payment service is
down, each message naming its order). It prints how many problems the failures made (one
is the target, not one per saga), the alerts the webhook got (one per rule that fired:
the new problem, and the failure burst), and the time from the
first failure (the problem's first_seen, by the database clock) to the webhook receiving
the alert; then the median of the runs. The target is under 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    log,
    machine,
    machine_info,
    recreate_database,
    stop,
    write_json,
)

SECRET = "bench-alert-secret-0123456789"


class Webhook:
    """Records when each alert arrived (this machine's clock) and what it said."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.arrivals.append((arrived, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"


def one_run(name: str, sagas: int, workers: int, webhook: Webhook) -> dict[str, float]:
    url = recreate_database(name)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONPATH": str(ROOT),
        "SAGASCOPE_ALERTS": "1",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    from django.db import connections

    connections.close_all()  # the database was made anew: no connection to the old one
    os.environ["DATABASE_URL"] = url
    connections["default"].settings_dict["NAME"] = name

    from sagas.models import AlertDestination, AlertEvaluator, Problem, SagaInstance
    from sagas.services.start import start_saga

    AlertDestination.objects.create(name="bench", channel="webhook", url=webhook.url, secret=SECRET)
    procs = [
        subprocess.Popen(
            [*manage, "run_worker", "--id", f"w{i}", "--poll", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    webhook.arrivals.clear()
    try:
        deadline = time.monotonic() + 60
        while not AlertEvaluator.objects.exists():  # a worker is up and evaluating
            assert time.monotonic() < deadline, "no worker started evaluating alerts"
            time.sleep(0.1)
        for i in range(sagas):
            start_saga("bench_outage", {"n": 1000 + i})
        while SagaInstance.objects.exclude(status="failed").exists() or not webhook.arrivals:
            assert time.monotonic() < deadline + 60, "the sagas did not fail, or no alert came"
            time.sleep(0.05)
        time.sleep(3)  # long enough for a duplicate alert to show up, if one would
        first = Problem.objects.order_by("first_seen").first()
        arrived = webhook.arrivals[0][0]
        return {
            "problems": Problem.objects.count(),
            "grouped": first.total_count,
            "alerts": len(webhook.arrivals),
            "latency_s": arrived - first.first_seen.timestamp(),
            "titles": "; ".join(b["alert"]["title"] for _, b in webhook.arrivals),
        }
    finally:
        stop(procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sagas", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", default="sagascope_alert_bench")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    os.environ.update(
        {
            "DATABASE_URL": recreate_database(args.database),
            "DJANGO_SETTINGS_MODULE": "bench.settings",
        }
    )
    import django

    django.setup()
    info = machine_info()
    log(f"machine: {machine(info)}")
    webhook = Webhook()
    latencies, runs = [], []
    for run in range(1, args.runs + 1):
        r = one_run(args.database, args.sagas, args.workers, webhook)
        latencies.append(r["latency_s"])
        runs.append(r)
        log(
            f"run {run}: {args.sagas} sagas failed -> {r['problems']} problem(s) "
            f"({r['grouped']} failures in the first); first failure to webhook "
            f"{r['latency_s']:.2f} s; {r['alerts']} alert(s) at the webhook: {r['titles']}"
        )
    log(
        f"median first failure -> webhook over {args.runs} runs: "
        f"{statistics.median(latencies):.2f} s (target < 5 s)"
    )
    write_json(
        args.json,
        info,
        {
            "sagas": args.sagas,
            "workers": args.workers,
            "runs": runs,
            "median_latency_s": statistics.median(latencies),
        },
    )


if __name__ == "__main__":
    main()
