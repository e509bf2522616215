"""Which of each bench's JSON figures go into RESULTS.md, under which name and unit.

A reader of a table gets `(name, unit, value)` rows; the units are those results.py
formats: "/s", "ms", "s", "x" (a ratio), "%" (a share) and "" (a count).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Row = tuple[str, str, float | None]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def throughput(f: dict) -> Iterator[Row]:
    for n, row in f["throughput"].items():
        yield f"sagascope, {n} worker(s): sagas/s", "/s", row["sagascope"]["sagas_s"]
        yield f"sagascope, {n} worker(s): steps/s", "/s", row["sagascope"]["steps_s"]
        if "dbos" in row:
            yield f"DBOS, {n} process(es): steps/s", "/s", row["dbos"]["steps_s"]
            yield f"sagascope / DBOS steps/s, {n}", "x", f["ratio_vs_dbos"][n]
    if f["best_ratio_vs_dbos"] is not None:
        yield "sagascope / DBOS, best against best", "x", f["best_ratio_vs_dbos"]
    for n, row in f["throughput"].items():
        if "sagascope_bare" in row:  # --observability: the same run without metrics or alerts
            on, off = row["sagascope"]["sagas_s"], row["sagascope_bare"]["sagas_s"]
            yield f"sagascope, {n} worker(s), metrics and alerts off: sagas/s", "/s", off
            yield f"cost of metrics, alert rules and a scrape a second, {n}", "%", on / off - 1
    for n, row in f["latency"].items():
        yield f"latency rate, {n} worker(s) (half the slower throughput)", "/s", row["rate"]
        yield f"sagascope, {n} worker(s): p50 latency", "ms", _ms(row["sagascope"]["p50"])
        yield f"sagascope, {n} worker(s): p95 latency", "ms", _ms(row["sagascope"]["p95"])
        if "dbos" in row:  # DBOS's latency runs in one process, at the same rate
            yield "DBOS, 1 process at that rate: p50 latency", "ms", _ms(row["dbos"]["p50"])
            yield "DBOS, 1 process at that rate: p95 latency", "ms", _ms(row["dbos"]["p95"])
    if f["pgbench_tps"] is not None:
        yield (
            f"pgbench ceiling ({f['pgbench_clients']} clients): step transactions/s",
            "/s",
            (f["pgbench_tps"]),
        )
        yield "sagascope's best steps/s, share of the pgbench ceiling", "%", f["share_of_pgbench"]


def latency(f: dict) -> Iterator[Row]:
    """throughput.py --latency-only: the low-load case, with where each saga's time went."""
    p95s = {}
    for n, row in f["latency"].items():
        ours = row["sagascope"]
        yield f"sagascope, {n} worker(s), {row['rate']:.0f}/s: p50", "ms", _ms(ours["p50"])
        yield f"sagascope, {n} worker(s), {row['rate']:.0f}/s: p95", "ms", _ms(ours["p95"])
        p95s[n] = ours["p95"]
        if "dbos" in row:
            yield f"DBOS, 1 process, same rate (beside {n}): p50", "ms", _ms(row["dbos"]["p50"])
            yield f"DBOS, 1 process, same rate (beside {n}): p95", "ms", _ms(row["dbos"]["p95"])
            yield f"sagascope p50 / DBOS p50, {n} worker(s)", "x", ours["p50"] / row["dbos"]["p50"]
        for part, t in ours.get("breakdown", {}).items():
            name = part.strip("_")
            yield f"{n} worker(s), per saga: {name}", "ms", t["ms_per_saga"]
            yield f"{n} worker(s), per saga: {name}, statements", "", t["queries_per_saga"]
    if len(p95s) > 1:
        first, last = min(p95s, key=int), max(p95s, key=int)
        yield f"p95 with {last} workers / with {first}", "x", p95s[last] / p95s[first]


def messaging(f: dict) -> Iterator[Row]:
    for transport, row in f["transports"].items():
        t, lat = row["throughput"], row["latency"]
        yield f"{transport}: order sagas/s (backlog of {t['sagas']})", "/s", t["sagas_s"]
        yield f"{transport}: commands/s", "/s", t["commands_s"]
        yield f"{transport}: sagas completed of {t['sagas']}", "", t["completed"]
        yield f"{transport}: latency rate (half the throughput)", "/s", lat["rate"]
        yield f"{transport}: p50 latency", "ms", _ms(lat["p50"])
        yield f"{transport}: p95 latency", "ms", _ms(lat["p95"])
        low = row.get("low_load")
        if low:
            at = f"{transport}: low load, {low['rate']:.0f}/s"
            yield f"{at}: p50 latency", "ms", _ms(low["p50"])
            yield f"{at}: p95 latency", "ms", _ms(low["p95"])
            for hop in ("out", "back", "hop"):
                if hop in low.get("hops", {}):
                    yield f"{at}: each {hop}, p50", "ms", low["hops"][hop]["p50"]
                    yield f"{at}: each {hop}, p95", "ms", low["hops"][hop]["p95"]
    rows = f["transports"]
    if "http" in rows and "database" in rows:
        db, http = rows["database"], rows["http"]
        ratio = http["throughput"]["sagas_s"] / db["throughput"]["sagas_s"]
        yield "http / database: throughput", "x", ratio
        if "low_load" in db and "low_load" in http:
            yield (
                "http / database: low-load p50",
                "x",
                http["low_load"]["p50"] / db["low_load"]["p50"],
            )


def live_latency(f: dict) -> Iterator[Row]:
    for clients, r in f.get("push", {}).items():
        yield f"push, {clients} client(s): sagas started", "", r["sagas"]
        for q in ("p50", "p95", "p99", "max"):
            yield f"push, {clients} client(s): commit -> client {q}", "ms", r[q]
    pages = f.get("pages")
    if pages:
        yield f"pages: bulk insert of {pages['sagas']:,} sagas + VACUUM", "s", pages["load_seconds"]
        yield "overview, first request (counts the baseline)", "ms", pages["overview_cold_ms"]
        for name, t in pages["pages"].items():
            yield f"{name}: p50", "ms", t["p50"]
            yield f"{name}: p95", "ms", t["p95"]


def metrics_scrape(f: dict) -> Iterator[Row]:
    where = f"{f['sagas']:,} sagas, {f['failed']:,} failed in {f['groups']:,} groups"
    for key, label in (
        ("metrics", "/metrics"),
        ("problems_page", "the Problems page"),
        ("problems_api", "GET /api/problems"),
    ):
        yield f"{label} at {where}: p50", "ms", f[key]["p50_ms"]
        yield f"{label} at {where}: p95", "ms", f[key]["p95_ms"]


def alert_latency(f: dict) -> Iterator[Row]:
    what = f"{f['sagas']} sagas failing for one cause, {f['workers']} workers"
    yield f"{what}: median first failure -> webhook", "s", f["median_latency_s"]
    for i, r in enumerate(f["runs"], 1):
        yield f"{what}, run {i}: problems made", "", r["problems"]
        yield f"{what}, run {i}: alerts at the webhook", "", r["alerts"]


TABLES: dict[str, Callable[[dict], Iterator[Row]]] = {
    "throughput": throughput,
    "latency": latency,
    "messaging": messaging,
    "live_latency": live_latency,
    "metrics_scrape": metrics_scrape,
    "alert_latency": alert_latency,
}


def _cell(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def autovacuum_text(vacuum: dict) -> str:
    """How autovacuum stood during a soak, as its log line and RESULTS.md both say it."""
    if vacuum["set_by_soak"]:
        server = vacuum["server"]
        return f"{vacuum['during_run']} during the run (set by the soak; the server has {server})"
    return f"{vacuum['during_run']} during the run (the server's own setting)"


def soak_section(f: dict, run: int) -> list[str]:
    """A soak run's minute-by-minute table and its verdict, as the soak printed them."""
    minutes = f["minutes"]
    procs = list(minutes[0]["rss_mb"])
    lines = [
        f"Run {run}: order sagas at {f['rate']:g}/s, {f['workers']} workers, "
        f"{f['transport']} transport; PostgreSQL autovacuum {autovacuum_text(f['autovacuum'])}. "
        "Dead rows: summed over the soak database's tables, with how many times they were "
        "vacuumed. CPU: the machine's busy and stolen (by the hypervisor) share. "
        "RSS in MB (the driver starts the sagas: it is shown, not judged).",
        "",
        "| minute | started | finished | p50 ms | p95 ms | active | dead rows | vacuums "
        "| CPU busy | CPU steal | " + " | ".join(procs) + " |",
        "|" + " ---: |" * (10 + len(procs)),
    ]
    for m in minutes:
        tables = m["tables"].values()
        cells = [
            str(m["minute"]),
            str(m["started"]),
            str(m["finished"]),
            _cell(m["p50_ms"]),
            _cell(m["p95_ms"]),
            str(m["active"]),
            f"{sum(t['dead'] for t in tables)} of {sum(t['dead'] + t['live'] for t in tables)}",
            str(sum(t["vacuums"] for t in tables)),
            f"{m['cpu']['busy_pct']:.0f}%",
            f"{m['cpu']['steal_pct']:.1f}%",
            *(_cell(m["rss_mb"][p], 1) for p in procs),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    v = f["verdict"]
    growth = ", ".join(
        f"{name} {'exited' if mb is None else f'{mb:+.1f}'}"
        for name, mb in v["rss_growth_mb"].items()
    )
    lines += [
        "",
        f"- RSS growth, minute 1 to {minutes[-1]['minute']} (MB): {growth}",
        f"- p95, minute {v['latency_base_minute']} to {minutes[-1]['minute']}: "
        f"{_cell(v['latency_base_p95_ms'])} -> {_cell(v['latency_last_p95_ms'])} ms",
        f"- tolerance: RSS {f['tolerances']['rss']}; latency: {f['tolerances']['latency']}",
        "- verdict: **flat**"
        if v["flat"]
        else "- verdict: **NOT flat**: " + "; ".join(v["problems"]),
        "",
    ]
    return lines
