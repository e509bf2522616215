"""What the benchmark scripts share: the machine line, databases, percentiles, processes."""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(message, flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def recreate_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def machine_info() -> dict[str, object]:
    """The machine a run measured, read from the system and the server, never typed in."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor() or "unknown cpu",
    )
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    ram_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    with psycopg.connect(ADMIN_URL) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
        commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
        # off on some CI servers, where dead rows of the update-heavy tables are never
        # reclaimed: a reader of long-run figures must know which server they came from
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(ram_kb / 1024 / 1024, 1),
        "postgresql": version,
        "fsync": fsync,
        "synchronous_commit": commit,
        "autovacuum": autovacuum,
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def machine(info: dict[str, object] | None = None) -> str:
    m = info or machine_info()
    return (
        f"{m['cores']} cores ({m['cpu']}), PostgreSQL {m['postgresql']}, fsync={m['fsync']}, "
        f"synchronous_commit={m['synchronous_commit']}, "
        f"autovacuum={m['autovacuum']}, Python {m['python']}"
    )


def _finite(value: object) -> object:
    # NaN (a percentile of nothing) is not JSON; null says "not measured" to any reader.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_json(path: str | None, info: dict[str, object], figures: dict[str, object]) -> None:
    """Write a bench's figures for `--json PATH`; prints nothing, so the output is unchanged."""
    if not path:
        return
    document = {"argv": sys.argv[1:], "machine": info, **figures}
    Path(path).write_text(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a live process from /proc, in MB; None once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None  # a zombie has no memory left to report


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
