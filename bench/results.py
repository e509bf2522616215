"""Run every bench several times and write bench/RESULTS.md from what the runs measured.

    python bench/results.py [--runs 3] [--soak-runs 1] [--soak-minutes 10] [--only soak,...]
    python bench/results.py --quick      # tiny parameters: checks this script end to end

Each bench runs as its own process with `--json`, one after the other; RESULTS.md gets,
per bench, the median over the runs with the min, the max and every run's value, the
command that reproduces one run, and the machine as bench/common.py reads it. No figure
in it is typed in. `--quick` writes bench/RESULTS.quick.md (gitignored) by default, so a
check of the script is never mistaken for results. The raw JSON goes next to the page.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ADMIN_URL, ROOT, log, machine_info  # noqa: E402
from bench.figures import TABLES, soak_section  # noqa: E402

ORDER = (
    "throughput",
    "latency",
    "messaging",
    "live_latency",
    "metrics_scrape",
    "alert_latency",
    "soak",
)
# A bench that is another's script with other arguments.
SCRIPTS = {"latency": "throughput"}
# Beyond each bench's defaults: the throughput also measures what observability costs;
# the latency is the low-load case, sagas one at a time at 20/s, 1 and 4 workers.
ARGS = {
    "throughput": ["--observability"],
    "latency": ["--latency-only", "20", "--workers", "1,4"],
    "alert_latency": ["--runs", "1"],
}
# Small enough to finish in minutes on two cores, large enough to exercise every code path
# (DBOS, both transports, several websocket clients, the page times, a soak verdict).
QUICK = {
    "throughput": ["--sagas", "200", "--workers", "1", "--latency-seconds", "2"]
    + ["--pgbench-seconds", "2"],
    "latency": ["--latency-only", "10", "--workers", "1", "--latency-seconds", "2"],
    "messaging": ["--sagas", "50", "--workers", "1", "--latency-seconds", "2"],
    "live_latency": ["--rate", "5", "--seconds", "3", "--clients", "1,5", "--sagas", "5000"],
    "metrics_scrape": ["--sagas", "20000", "--scrapes", "10"],
    "alert_latency": ["--sagas", "10"],
    "soak": ["--rate", "3"],
}


@dataclass
class Bench:
    name: str
    args: list[str]
    runs: int
    results: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def command(self) -> str:
        return shlex.join(["python", f"bench/{self.script}.py", *self.args])

    @property
    def script(self) -> str:
        return SCRIPTS.get(self.name, self.name)


def run_once(bench: Bench, label: str, began: float) -> dict | None:
    """One run as a child process, its output streamed indented; its JSON, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, f"bench/{bench.script}.py", *bench.args, "--json", str(out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        tail: list[str] = []
        for line in proc.stdout:
            print(f"    | {line}", end="", flush=True)
            tail = (tail + [line.rstrip()])[-3:]
        code = proc.wait()
        took = time.monotonic() - started
        if code == 0 and out.exists():
            bench.seconds.append(took)
            log(f"[results] {label}: done in {took:.0f} s (elapsed {elapsed(began)})")
            return json.loads(out.read_text())
    reason = f"{label} exited with {code}: {tail[-1] if tail else 'no output'}"
    bench.failures.append(reason)
    log(f"[results] {reason}")
    return None


def elapsed(began: float) -> str:
    seconds = int(time.monotonic() - began)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def wait_for_postgres(timeout: float = 120) -> None:
    """A run that died on a PostgreSQL restart would die again if retried mid-restart."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(ADMIN_URL, connect_timeout=5).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def run_all(benches: list[Bench], retries: int, began: float) -> None:
    for bench in benches:
        for i in range(1, bench.runs + 1):
            for attempt in range(retries + 1):
                if attempt:
                    wait_for_postgres()
                again = f", attempt {attempt + 1}" if attempt else ""
                label = f"{bench.name} run {i} of {bench.runs}{again}"
                log(f"[results] {label} (elapsed {elapsed(began)}): {bench.command}")
                figures = run_once(bench, label, began)
                if figures is not None:
                    bench.results.append(figures)
                    break


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2f}"


def median_table(bench: Bench) -> list[str]:
    """| figure | median | min | max | run 1 | ...: one row per figure the runs measured."""
    rows: dict[tuple[str, str], list[float | None]] = {}
    for i, figures in enumerate(bench.results):
        for name, unit, value in TABLES[bench.name](figures):
            rows.setdefault((name, unit), [None] * len(bench.results))[i] = value
    runs = [f"run {i}" for i in range(1, len(bench.results) + 1)]
    lines = [
        "| figure | median | min | max | " + " | ".join(runs) + " |",
        "| --- | " + " | ".join("---:" for _ in range(3 + len(runs))) + " |",
    ]
    for (name, unit), values in rows.items():
        measured = [v for v in values if v is not None]
        summary = (
            [statistics.median(measured), min(measured), max(measured)] if measured else [None] * 3
        )
        cells = [fmt(v, unit) for v in summary + values]
        suffix = f" ({unit})" if unit in ("ms", "s") else ""
        lines.append(f"| {name}{suffix} | " + " | ".join(cells) + " |")
    return lines


def machine_section(info: dict, commit: str, load: str, began_at: str, ended_at: str) -> list[str]:
    return [
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores; RAM {info['ram_gb']} GB; "
        f"kernel {info['kernel']}",
        f"- PostgreSQL {info['postgresql']} (fsync={info['fsync']}, "
        f"synchronous_commit={info['synchronous_commit']}, "
        f"autovacuum={info['autovacuum']}), on the same machine",
        f"- Python {info['python']}",
        f"- load average before the run (1, 5, 15 min): {load}",
        f"- code: commit {commit}",
        f"- ran from {began_at} to {ended_at} (UTC)",
        "",
    ]


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    # the page itself is not code: an earlier, uncommitted RESULTS.md is no reason to doubt it
    changed = git("status", "--porcelain", "--", "bench", "sagas", "dashboard", ":!bench/RESULTS.*")
    dirty = " (with uncommitted changes)" if changed else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def render(benches: list[Bench], args: argparse.Namespace, header: dict) -> str:
    lines = ["# Benchmark results", ""]
    if args.quick:
        lines += [
            "> **QUICK RUN, NOT RESULTS.** Written by `python bench/results.py --quick` with",
            "> tiny parameters, only to check the scripts end to end. Do not quote these.",
            "",
        ]
    lines += [
        "Written by `bench/results.py` from the JSON each bench wrote; nothing here is typed",
        "in. A median is over the runs listed beside it; a ratio or a share is computed",
        "within each run (both sides measured in that run), then the median of those taken.",
        "",
        f"Reproduce the whole page (it took {header['duration']}):",
        "",
        f"    {header['command']}",
        "",
        *machine_section(
            header["machine"], header["commit"], header["load"], header["began"], header["ended"]
        ),
    ]
    if header.get("kept"):
        lines += [
            f"Kept from the previous page, not run again by the command above: "
            f"{', '.join(header['kept'])} (same machine; their commands are below).",
            "",
        ]
    for bench in benches:
        lines += [f"## {bench.name}", "", f"    {bench.command}", ""]
        ok = len(bench.results)
        took = ", ".join(f"{s:.0f} s" for s in bench.seconds)
        lines.append(f"{ok} of {bench.runs} run(s) measured (each took: {took or 'n/a'}).")
        for failure in bench.failures:
            lines.append(f"Failed attempt, not counted: `{failure}`.")
        lines.append("")
        if not bench.results:
            continue
        if bench.name == "soak":
            for i, figures in enumerate(bench.results, 1):
                lines += soak_section(figures, i)
        else:
            lines += [*median_table(bench), ""]
    return "\n".join(lines)


def kept_benches(out: Path, fresh: list[str]) -> list[Bench]:
    """The runs of the benches not run now, as the page's JSON holds them."""
    previous = json.loads(out.with_suffix(".json").read_text())
    kept = []
    for name, raw in previous["benches"].items():
        if name in fresh or name not in ORDER:
            continue
        bench = Bench(name, shlex.split(raw["command"])[2:], len(raw["runs"]))
        bench.results, bench.seconds, bench.failures = raw["runs"], raw["seconds"], raw["failures"]
        kept.append(bench)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each bench but the soak")
    parser.add_argument("--soak-runs", type=int, default=1)
    parser.add_argument("--soak-minutes", type=int, help="default 10, or 2 with --quick")
    parser.add_argument("--only", help=f"comma-separated, out of {','.join(ORDER)}")
    parser.add_argument("--quick", action="store_true", help="tiny parameters, for a check")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts for a failed run")
    parser.add_argument("--out", type=Path, help="default bench/RESULTS.md (.quick.md)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with --only: keep the other benches' runs from the page's JSON (the page says so)",
    )
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(ORDER)
    unknown = set(names) - set(ORDER)
    if unknown:
        parser.error(f"unknown bench {', '.join(sorted(unknown))}; choose from {', '.join(ORDER)}")
    out = args.out or ROOT / "bench" / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    minutes = args.soak_minutes or (2 if args.quick else 10)
    benches = []
    for name in [n for n in ORDER if n in names]:
        extra = QUICK[name] if args.quick else []
        if name == "soak":
            benches.append(Bench(name, ["--minutes", str(minutes), *extra], args.soak_runs))
        else:
            benches.append(Bench(name, [*ARGS.get(name, []), *extra], args.runs))

    kept = kept_benches(out, names) if args.keep else []
    info, commit = machine_info(), git_commit()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    began_at, began = datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic()
    log(f"[results] {len(benches)} bench(es) into {out}; load average {load}")
    run_all(benches, args.retries, began)
    header = {
        "kept": [b.name for b in kept],
        "command": shlex.join(["python", "bench/results.py", *sys.argv[1:]]),
        "duration": elapsed(began),
        "machine": info,
        "commit": commit,
        "load": load,
        "began": began_at,
        "ended": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    benches = sorted([*benches, *kept], key=lambda b: ORDER.index(b.name))
    out.write_text(render(benches, args, header) + "\n")
    raw = {
        b.name: {
            "command": b.command,
            "seconds": b.seconds,
            "failures": b.failures,
            "runs": b.results,
        }
        for b in benches
    }
    out.with_suffix(".json").write_text(json.dumps({**header, "benches": raw}, indent=2) + "\n")
    log(f"[results] wrote {out} and {out.with_suffix('.json').name} in {header['duration']}")
    if any(b.failures and not b.results for b in benches):
        sys.exit(1)


if __name__ == "__main__":
    main()
