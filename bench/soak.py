"""A steady load for minutes on end: do memory or latency creep?

    python bench/soak.py [--minutes 10] [--rate 5] [--workers 2] [--transport database]

The workload is messaging.py's, with its helpers: `order` sagas of sagas/demo, whose steps
are commands to inventory, payment, shipping and email, each a `run_participant` process;
`--workers` run_worker processes; the relay too with `--transport http`. It is chosen over
throughput.py's local steps because a leak or a slowdown over time is likelier in what
a soak of local steps would skip: the outbox, the participants' inboxes and the replies,
whose tables grow for the whole run. Every order has stock (no SKU gets more than 50 of
its 100 units), so the load keeps one shape: sagas that complete.

Sagas start from this process at `--rate` per second for `--minutes`. Every minute, one
line: sagas started and finished in it, p50/p95 start-to-finish time of those that
finished in it, sagas still active, and each process's RSS (VmRSS from /proc). Then a
verdict computed from those lines, with the tolerances it used: RSS growth from the first
minute to the last per process, and the last minute's p95 against the second's (the first
includes the warm-up; against the first when the run is shorter than three minutes).

PostgreSQL's autovacuum is on for the run, as on any production server: a soak measures
the system as it would run for days, and with autovacuum off the dead rows of every
update-heavy table (sagas, outbox, inboxes) are never reclaimed, a state no production
server runs in for long.
Where the server has it off (some CI servers do), the soak turns it on with ALTER SYSTEM
for the run and puts the server's own setting back afterwards; `--autovacuum server`
leaves the server as it is. Each minute's line also gives the dead and live rows of the
soak database's tables and how many times they were vacuumed, and the machine's CPU:
busy and stolen (by the hypervisor, for another guest), so a drift can be told apart
from a table that was never vacuumed or from a neighbour's load.

Uses the database `sagascope_soak_bench` (dropped and created). Every figure printed is
measured in this run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ADMIN_URL,
    log,
    machine,
    machine_info,
    percentile,
    recreate_database,
    rss_mb,
    write_json,
)
from bench.figures import autovacuum_text  # noqa: E402
from bench.messaging import Stack, active, reset, setup  # noqa: E402

DRIVER = "driver"


def order(i: int) -> dict:
    return {"sku": f"SOAK-{i // 50}", "qty": 1, "amount": 20 + i % 300, "country": "FR"}


def label(proc: subprocess.Popen) -> str:
    """`worker w0`, `inventory`, `relay`: which process of the stack this is."""
    command, rest = proc.args[2], proc.args[3:]
    if command == "run_worker":
        return f"worker {rest[rest.index('--id') + 1]}"
    if command == "run_participant":
        return rest[0]
    return command.removeprefix("run_")


def finished_between(since, until) -> dict[str, object]:
    """Sagas that ended in [since, until) by the database's clock, which stamped them."""
    from django.db.models import F

    from sagas.models import SagaInstance
    from sagas.statuses import TERMINAL_STATUSES

    rows = list(
        SagaInstance.objects.filter(
            status__in=TERMINAL_STATUSES, finished_at__gte=since, finished_at__lt=until
        )
        .annotate(took=F("finished_at") - F("created_at"))
        .values_list("status", "took")
    )
    took = [1000 * t.total_seconds() for _, t in rows]
    return {
        "finished": len(rows),
        "compensated": sum(1 for status, _ in rows if status == "compensated"),
        "p50_ms": percentile(took, 0.50),
        "p95_ms": percentile(took, 0.95),
    }


@contextmanager
def autovacuum(mode: str) -> Iterator[dict[str, object]]:
    """Autovacuum as `mode` asks for the run; the server's own setting is back afterwards."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        setting, sourcefile = conn.execute(
            "SELECT setting, sourcefile FROM pg_settings WHERE name = 'autovacuum'"
        ).fetchone()
        state: dict[str, object] = {"server": setting, "during_run": setting, "set_by_soak": False}
        if mode == "server" or setting == "on":
            yield state
            return
        # an earlier ALTER SYSTEM value is put back as it was, otherwise the entry is removed
        altered = (sourcefile or "").endswith("postgresql.auto.conf")
        conn.execute("ALTER SYSTEM SET autovacuum = on")
        conn.execute("SELECT pg_reload_conf()")
        try:
            state.update(during_run=wait_for_autovacuum(conn), set_by_soak=True)
            yield state
        finally:
            if altered:
                conn.execute(f"ALTER SYSTEM SET autovacuum = {setting}")
            else:
                conn.execute("ALTER SYSTEM RESET autovacuum")
            conn.execute("SELECT pg_reload_conf()")


def wait_for_autovacuum(conn: psycopg.Connection, seconds: float = 10.0) -> str:
    """'on' once the postmaster has started the launcher after the reload, else what is seen."""
    deadline = time.monotonic() + seconds
    while True:
        launcher = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher'"
        ).fetchone()[0]
        if launcher or time.monotonic() > deadline:
            return "on" if launcher else "on, but no launcher running"
        time.sleep(0.2)


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far, by kind, from /proc/stat's first line."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def cpu_share(before: list[int], after: list[int]) -> dict[str, float]:
    """Busy and stolen share of the machine's CPU time between two readings, in percent.

    Steal is time the hypervisor gave another guest: on a shared VM a neighbour's load shows
    up there, and a latency drift with it is not the soak's own.
    """
    user, nice, system, idle, iowait, irq, softirq, steal = (
        a - b for a, b in zip(after, before, strict=True)
    )
    total = max(1, user + nice + system + idle + iowait + irq + softirq + steal)
    busy = user + nice + system + irq + softirq
    return {"busy_pct": 100 * busy / total, "steal_pct": 100 * steal / total}


def table_health() -> dict[str, dict[str, int]]:
    """Live and dead rows and vacuum counts of every table the soak's stack writes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_live_tup, n_dead_tup, autovacuum_count + vacuum_count "
            "FROM pg_stat_user_tables WHERE n_live_tup + n_dead_tup > 0 ORDER BY relname"
        )
        return {
            name: {"live": live, "dead": dead, "vacuums": vacuums}
            for name, live, dead, vacuums in cursor.fetchall()
        }


def soak(args: argparse.Namespace, url: str) -> list[dict[str, object]]:
    from sagas.engine.leases import database_now
    from sagas.services.start import start_saga

    reset()
    rows: list[dict[str, object]] = []
    with Stack(url, args.transport, args.workers) as stack:
        pids = {label(p): p.pid for p in stack.procs} | {DRIVER: os.getpid()}
        began, since, started = time.time(), database_now(), 0
        ticks = cpu_ticks()
        for minute in range(1, args.minutes + 1):
            end, before = began + 60 * minute, started
            # the schedule is absolute, so a slow start or report is caught up, not drifted
            while (due := began + started / args.rate) < end:
                if due > time.time():
                    time.sleep(due - time.time())
                start_saga("order", order(started), correlation_id=f"soak-{uuid.uuid4().hex[:8]}")
                started += 1
            if end > time.time():
                time.sleep(end - time.time())
            until, ticks_before, ticks = database_now(), ticks, cpu_ticks()
            row = {
                "minute": minute,
                "started": started - before,
                **finished_between(since, until),
                "active": active(),
                "rss_mb": {name: rss_mb(pid) for name, pid in pids.items()},
                "tables": table_health(),
                "cpu": cpu_share(ticks_before, ticks),
            }
            since = until
            rows.append(row)
            log(line(row))
    return rows


def ms(value: float | None) -> str:
    return "   n/a" if value is None or value != value else f"{value:6.0f}"


def dead_rows(tables: dict[str, dict[str, int]]) -> tuple[int, int, int]:
    """Dead rows, live rows and vacuums, summed over the tables."""
    return tuple(sum(t[key] for t in tables.values()) for key in ("dead", "live", "vacuums"))


def line(row: dict[str, object]) -> str:
    rss = ", ".join(
        f"{name} {'gone' if mb is None else f'{mb:.0f}'}" for name, mb in row["rss_mb"].items()
    )
    dead, live, vacuums = dead_rows(row["tables"])
    return (
        f"minute {row['minute']:>3}: started {row['started']:>5}, finished {row['finished']:>5}"
        f" ({row['compensated']} compensated), p50 {ms(row['p50_ms'])} ms, "
        f"p95 {ms(row['p95_ms'])} ms, active {row['active']:>4}; "
        f"dead rows {dead} of {dead + live} ({vacuums} vacuums); "
        f"CPU busy {row['cpu']['busy_pct']:.0f}%, steal {row['cpu']['steal_pct']:.1f}%; "
        f"RSS MB: {rss}"
    )


def verdict(rows: list[dict[str, object]], args: argparse.Namespace) -> dict[str, object]:
    """Flat or not, from the per-minute figures and the tolerances given on the command line."""
    first, last = rows[0], rows[-1]
    problems: list[str] = []
    growth: dict[str, float | None] = {}
    for name, start in first["rss_mb"].items():
        if name == DRIVER:
            continue  # the load generator, not the system under test
        end = last["rss_mb"][name]
        if start is None or end is None:
            growth[name] = None
            problems.append(f"{name} exited during the run")
            continue
        growth[name] = end - start
        allowed = max(args.rss_slack_mb, start * args.rss_tolerance / 100)
        if end - start > allowed:
            problems.append(f"{name} RSS {start:.0f} -> {end:.0f} MB (+{end - start:.0f})")
    base = rows[1] if len(rows) >= 3 else first
    base_p95, last_p95 = base["p95_ms"], last["p95_ms"]
    if base_p95 is None or last_p95 is None:
        allowed_p95 = None
        problems.append(f"no saga finished in minute {base['minute']} or {last['minute']}")
    else:
        allowed_p95 = max(
            base_p95 * (1 + args.latency_tolerance / 100), base_p95 + args.latency_slack_ms
        )
        if last_p95 > allowed_p95:
            problems.append(
                f"p95 {base_p95:.0f} ms (minute {base['minute']}) -> {last_p95:.0f} ms "
                f"(minute {last['minute']}), over {allowed_p95:.0f} ms"
            )
    return {
        "flat": not problems,
        "problems": problems,
        "rss_growth_mb": growth,
        "latency_base_minute": base["minute"],
        "latency_base_p95_ms": base_p95,
        "latency_last_p95_ms": last_p95,
        "latency_allowed_p95_ms": allowed_p95,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=5.0, help="order sagas started per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--transport", choices=("database", "http"), default="database")
    parser.add_argument("--rss-tolerance", type=float, default=10.0, metavar="PERCENT")
    parser.add_argument("--rss-slack-mb", type=float, default=5.0, metavar="MB")
    parser.add_argument("--latency-tolerance", type=float, default=50.0, metavar="PERCENT")
    parser.add_argument("--latency-slack-ms", type=float, default=25.0, metavar="MS")
    parser.add_argument(
        "--autovacuum",
        choices=("on", "server"),
        default="on",
        help="on (default): turned on for the run if the server has it off; "
        "server: left as the server has it",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args()
    if args.minutes < 2:
        parser.error("--minutes must be at least 2: the verdict compares minutes")
    info = machine_info()
    log(f"machine: {machine(info)}")
    url = recreate_database("sagascope_soak_bench")
    setup(url)
    log(
        f"soak: order sagas at {args.rate:g}/s for {args.minutes} min, {args.workers} workers, "
        f"one process per participant, {args.transport} transport"
    )
    with autovacuum(args.autovacuum) as vacuum:
        log(f"autovacuum: {autovacuum_text(vacuum)}")
        rows = soak(args, url)
    result = verdict(rows, args)
    tolerances = {
        "rss": f"+{args.rss_tolerance:g}% or +{args.rss_slack_mb:g} MB, whichever is larger",
        "latency": (
            f"p95 of minute {rows[-1]['minute']} at most +{args.latency_tolerance:g}% or "
            f"+{args.latency_slack_ms:g} ms over minute {result['latency_base_minute']}'s, "
            "whichever is larger"
        ),
    }
    growth = ", ".join(
        f"{name} {'gone' if mb is None else f'{mb:+.1f}'}"
        for name, mb in result["rss_growth_mb"].items()
    )
    log(f"RSS growth, minute 1 -> {rows[-1]['minute']} (MB): {growth}")
    log(
        f"p95, minute {result['latency_base_minute']} -> {rows[-1]['minute']}: "
        f"{ms(result['latency_base_p95_ms']).strip()} -> "
        f"{ms(result['latency_last_p95_ms']).strip()} ms"
    )
    log(f"tolerance: RSS {tolerances['rss']}; latency: {tolerances['latency']}")
    log(
        "verdict: flat"
        if result["flat"]
        else "verdict: NOT flat (" + "; ".join(result["problems"]) + ")"
    )
    write_json(
        args.json,
        info,
        {
            "workload": "order saga, participants as processes (bench/messaging.py's stack)",
            "rate": args.rate,
            "workers": args.workers,
            "transport": args.transport,
            "autovacuum": vacuum,
            "minutes": rows,
            "tolerances": tolerances,
            "verdict": result,
        },
    )


if __name__ == "__main__":
    main()
