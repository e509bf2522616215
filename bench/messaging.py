"""The order saga across real participant processes, over each transport.

    python bench/messaging.py [--sagas 600] [--workers 2] [--transports database,http]

For each transport: one `run_participant` process per service (inventory, payment,
shipping, email), `--workers` worker processes, and for HTTP the relay; then
- throughput: a backlog of N order sagas released at once; sagas/s until the last ends;
- latency: sagas started one by one at half that rate for a few seconds; p50/p95 of
  start-to-finish time.
Every figure printed is measured in this run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid

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

SERVICES = ("inventory", "payment", "shipping", "email")
HTTP_SERVICES = ("payment", "shipping")  # the others read the database, as in compose


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """Workers, participants (and the relay) as processes against one database."""

    def __init__(self, url: str, transport: str, workers: int) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "PYTHONPATH": str(ROOT),
        }
        for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "SAGASCOPE_PARTICIPANT_URLS"):
            self.env.pop(key, None)
        self.transport = transport
        self.workers = workers
        self.ports = {name: free_port() for name in HTTP_SERVICES}
        if transport == "http":
            self.env["SAGASCOPE_PARTICIPANT_URLS"] = ",".join(
                f"{name}=http://127.0.0.1:{port}" for name, port in self.ports.items()
            )
            self.env["SAGASCOPE_PARTICIPANT_SECRETS"] = ",".join(
                f"{name}={secrets.token_hex(16)}" for name in HTTP_SERVICES
            )
        self.procs: list[subprocess.Popen] = []

    def manage(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> Stack:
        from sagas.models import ProcessHeartbeat

        ProcessHeartbeat.objects.all().delete()  # this bench's database: the last run's rows
        for i in range(self.workers):
            self.procs.append(self.manage("run_worker", "--id", f"w{i}", "--poll", "0.2"))
        for name in SERVICES:
            if self.transport == "http" and name in HTTP_SERVICES:
                self.procs.append(
                    self.manage("run_participant", name, "--http", f"127.0.0.1:{self.ports[name]}")
                )
            else:
                self.procs.append(
                    self.manage("run_participant", name, "--poll", "0.2", "--batch", "20")
                )
        if self.transport == "http":
            self.procs.append(self.manage("run_relay", "--poll", "0.2"))
        # Every process beats once it serves (workers, participants, the relay): a fixed
        # sleep counted the slower ones' start-up as latency on a busy machine.
        deadline = time.monotonic() + 120
        while ProcessHeartbeat.objects.count() < len(self.procs):
            if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                stop(self.procs)
                raise SystemExit("the stack's processes did not all start within 120 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.procs)


def setup(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update({"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE sagas_sagainstance, sagas_outboxmessage, "
            "sagas_processedmessage, demo_order, demo_stockitem, demo_reservation, "
            "demo_payment, demo_shipment, demo_confirmation CASCADE"
        )


def order(i: int) -> dict:
    return {"sku": f"SKU-{i % 400}", "qty": 1, "amount": 20 + i % 300, "country": "FR"}


def active() -> int:
    from sagas.models import SagaInstance
    from sagas.statuses import ACTIVE_STATUSES

    return SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).count()


def latency(rate: float, seconds: float) -> dict[str, float]:
    from django.db.models import F

    from sagas.models import SagaInstance
    from sagas.services.start import start_saga

    reset()
    began = time.time()
    i = 0
    while time.time() < began + seconds:
        due = began + i / rate
        if due > time.time():
            time.sleep(due - time.time())
        start_saga("order", order(i), correlation_id=f"lat-{uuid.uuid4().hex[:8]}")
        i += 1
    deadline = time.time() + 120
    while active() and time.time() < deadline:
        time.sleep(0.05)
    took = [
        t.total_seconds()
        for t in SagaInstance.objects.filter(status="completed")
        .annotate(took=F("finished_at") - F("created_at"))
        .values_list("took", flat=True)
    ]
    return {
        "count": i,
        "completed": len(took),
        "p50": percentile(took, 0.5),
        "p95": percentile(took, 0.95),
    }


def hops() -> dict[str, dict[str, float]]:
    """Where each remote step's time went, from the rows' own timestamps (one machine, one
    clock): `out` from the command's commit to the participant marking it handled (wake-up,
    claim, handling), `back` from the reply's commit to the worker applying it (wake-up,
    apply, the next command sent in the same transaction), `hop` the two together; then the
    same per command. Milliseconds, p50/p95/max over every completed saga's commands."""
    from sagas.models import OutboxMessage

    commands = {
        str(m.message_id): m
        for m in OutboxMessage.objects.filter(kind="command", status="sent").only(
            "message_id", "destination", "headers", "created_at", "sent_at"
        )
    }
    parts: dict[str, list[float]] = {}
    for reply in OutboxMessage.objects.filter(kind="reply", status="sent").only(
        "headers", "created_at", "sent_at"
    ):
        command = commands.get(str(reply.headers.get("in_reply_to")))
        if command is None or command.sent_at is None or reply.sent_at is None:
            continue
        out = (command.sent_at - command.created_at).total_seconds()
        back = (reply.sent_at - reply.created_at).total_seconds()
        name = str(command.headers.get("command", command.destination))
        for key, value in (("out", out), ("back", back), ("hop", out + back), (name, out + back)):
            parts.setdefault(key, []).append(1000 * value)
    return {
        key: {
            "n": len(values),
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
            "max": max(values),
        }
        for key, values in parts.items()
    }


def format_hops(figures: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{key} p50 {f['p50']:.1f} p95 {f['p95']:.1f} ms" for key, f in figures.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sagas", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--transports", default="database,http")
    parser.add_argument("--latency-seconds", type=float, default=8.0)
    parser.add_argument(
        "--low-rate",
        type=float,
        default=5.0,
        help="the low-load case: sagas started one at a time at this rate, each hop timed",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    info = machine_info()
    log(f"machine: {machine(info)}")
    url = recreate_database("sagascope_msg_bench")
    setup(url)
    from django.db import connection

    from sagas.models import SagaInstance
    from sagas.services.start import start_saga

    figures: dict[str, dict[str, object]] = {}
    for transport in args.transports.split(","):
        # the backlog goes in before any worker runs, held back, then released at once
        reset()
        for i in range(args.sagas):
            start_saga("order", order(i), correlation_id=f"bench-{i}")
        SagaInstance.objects.update(next_run_at=None)
        with Stack(url, transport, args.workers):
            started = time.time()
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE sagas_sagainstance SET next_run_at = now(); NOTIFY sagascope_due"
                )
            while active() and time.time() < started + 600:
                time.sleep(0.05)
            elapsed = time.time() - started
            done = SagaInstance.objects.filter(status="completed").count()
            rate = max(2.0, done / elapsed / 2)
            log(
                f"{transport:8}  throughput: {done}/{args.sagas} order sagas completed in "
                f"{elapsed:.1f}s = {done / elapsed:.0f} sagas/s ({4 * done / elapsed:.0f} "
                f"commands/s); {args.workers} workers, 1 process per participant"
            )
            lat = latency(rate, args.latency_seconds)
            figures[transport] = {
                "throughput": {
                    "sagas": args.sagas,
                    "completed": done,
                    "seconds": elapsed,
                    "sagas_s": done / elapsed,
                    "commands_s": 4 * done / elapsed,
                },
                "latency": {"rate": rate, **lat},
            }
            log(
                f"{transport:8}  latency at {rate:.0f} sagas/s: p50 {lat['p50'] * 1000:.0f} ms, "
                f"p95 {lat['p95'] * 1000:.0f} ms ({lat['completed']}/{lat['count']} completed)"
            )
            low = latency(args.low_rate, args.latency_seconds)
            low["hops"] = hops()
            figures[transport]["low_load"] = {"rate": args.low_rate, **low}
            log(
                f"{transport:8}  low load, {args.low_rate:.0f} sagas/s: p50 "
                f"{low['p50'] * 1000:.1f} ms, p95 {low['p95'] * 1000:.1f} ms "
                f"({low['completed']}/{low['count']} completed)"
            )
            log(f"{transport:8}  each hop: {format_hops(low['hops'])}")
    write_json(args.json, info, {"workers": args.workers, "transports": figures})


if __name__ == "__main__":
    main()
