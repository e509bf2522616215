"""The engine's settings, with their defaults; the engine reads settings only through here."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def lease_seconds() -> float:
    """How long a worker's claim on a saga lasts without a heartbeat."""
    return float(getattr(settings, "SAGASCOPE_LEASE_SECONDS", 30.0))


def poll_interval() -> float:
    """The longest an idle worker waits before looking for due work again."""
    return float(getattr(settings, "SAGASCOPE_POLL_INTERVAL", 1.0))


def batch_size() -> int:
    """How many sagas one worker holds and advances per transaction."""
    return int(getattr(settings, "SAGASCOPE_BATCH_SIZE", 50))


def abandon_after() -> float:
    """How long a worker keeps a saga from running again while the thread of its timed-out
    local attempt still runs; past that it logs an error and lets the saga go on."""
    return float(getattr(settings, "SAGASCOPE_ABANDON_AFTER", 300.0))


def max_input_bytes() -> int:
    """The largest saga input accepted, as JSON."""
    return int(getattr(settings, "SAGASCOPE_MAX_INPUT_BYTES", 64 * 1024))


def trace_url(trace_id: str) -> str | None:
    """The saga's trace in Jaeger's UI (JAEGER_UI_URL), or None without a trace id."""
    if not trace_id:
        return None
    base = getattr(settings, "JAEGER_UI_URL", "http://localhost:16686").rstrip("/")
    return f"{base}/trace/{trace_id}"


def relay_visibility() -> float:
    """How long a command stays leased to the relay publishing it, renewed while the publish
    runs: shorter than a step's timeout, so a relay that dies mid-publish holds its
    commands for seconds, and a retry is not stuck behind them."""
    return float(getattr(settings, "SAGASCOPE_RELAY_VISIBILITY", 3.0))


def relay_timeout() -> float:
    """How long the relay waits for a participant's answer; past it, the command counts as
    maybe delivered (it is not sent again as if it never arrived)."""
    return float(getattr(settings, "SAGASCOPE_RELAY_TIMEOUT", 10.0))


def circuit_failures() -> int:
    """Deliveries to one destination that fail in a row before its circuit opens."""
    return int(getattr(settings, "SAGASCOPE_CIRCUIT_FAILURES", 5))


def circuit_cooldown() -> float:
    """Seconds an opened circuit waits before its first probe."""
    return float(getattr(settings, "SAGASCOPE_CIRCUIT_COOLDOWN", 1.0))


def circuit_max_cooldown() -> float:
    """Each failed probe doubles the wait, up to this many seconds."""
    return float(getattr(settings, "SAGASCOPE_CIRCUIT_MAX_COOLDOWN", 10.0))


DEFAULT_STUCK_SECONDS = 300.0


def stuck_seconds(saga_type: str) -> float:
    """How long an active saga may go without a change before it needs an operator.

    A saga type may say so itself (`stuck_after = 60` on the Saga class); the setting
    SAGASCOPE_STUCK_AFTER ({"order": 60, "*": 300}) overrides it per type.
    """
    from sagas.registry import registry  # the registry imports definitions, which read settings

    configured = dict(getattr(settings, "SAGASCOPE_STUCK_AFTER", {}) or {})
    if saga_type in configured:
        return float(configured[saga_type])
    declared = getattr(registry.find(saga_type), "stuck_after", None)
    if declared:
        return float(declared)
    return float(configured.get("*", DEFAULT_STUCK_SECONDS))


def watch_seconds() -> float:
    """How often each worker looks for sagas stuck past their type's threshold."""
    return float(getattr(settings, "SAGASCOPE_WATCH_SECONDS", 5.0))


def heartbeat_seconds() -> float:
    """A participant process's heartbeat window: it beats three times in it, and shows red
    on the Workers page when silent for longer (workers use their lease, relays their
    visibility)."""
    return float(getattr(settings, "SAGASCOPE_HEARTBEAT_SECONDS", 10.0))


def forget_processes_after() -> float:
    """Seconds after its last beat when a dead process's row is deleted."""
    return float(getattr(settings, "SAGASCOPE_FORGET_PROCESSES_AFTER", 3600.0))


def metrics_token() -> str:
    """The bearer token a scraper of /metrics sends ("" for none)."""
    return str(getattr(settings, "SAGASCOPE_METRICS_TOKEN", "") or "")


def metrics_allow() -> list[str]:
    """Addresses or networks (CIDR) that may read /metrics without the token."""
    value = getattr(settings, "SAGASCOPE_METRICS_ALLOW", "") or ""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def metrics_counters() -> bool:
    """Whether transitions add to the /metrics totals (off only to measure their cost)."""
    return bool(getattr(settings, "SAGASCOPE_METRICS_COUNTERS", True))


def alerts_enabled() -> bool:
    """Whether workers evaluate alert rules and deliver alerts (one evaluator at a time)."""
    return bool(getattr(settings, "SAGASCOPE_ALERTS", True))


def alert_interval() -> float:
    """Seconds between two evaluations of the alert rules, and between delivery rounds."""
    return float(getattr(settings, "SAGASCOPE_ALERT_INTERVAL", 2.0))


def alert_timeout() -> float:
    """How long one webhook or email delivery may take before it counts as failed."""
    return float(getattr(settings, "SAGASCOPE_ALERT_TIMEOUT", 5.0))


def alert_max_attempts() -> int:
    """Attempts at one delivery before it is recorded as failed (backoff up to 5 minutes)."""
    return int(getattr(settings, "SAGASCOPE_ALERT_MAX_ATTEMPTS", 12))


def alert_backoff() -> float:
    """Seconds before a failed delivery's first retry; doubled each time, up to 5 minutes."""
    return float(getattr(settings, "SAGASCOPE_ALERT_BACKOFF", 1.0))


def prepared_statements() -> bool:
    """Whether the worker's hot-path statements are prepared on PostgreSQL. Off behind a
    pooler in transaction mode that cannot keep them (PgBouncer before 1.21)."""
    return bool(getattr(settings, "SAGASCOPE_PREPARED_STATEMENTS", True))


def search_timeout() -> float:
    """The longest one search query may run (seconds) before it is stopped and the operator
    asked to narrow it; a statement timeout on PostgreSQL, a progress check on SQLite."""
    return float(getattr(settings, "SAGASCOPE_SEARCH_TIMEOUT", 3.0))


# Retention (sagas/services/retention.py): how long finished sagas stay in the database.

RETENTION_OUTCOMES = ("completed", "compensated", "cancelled")
DEFAULT_RETENTION_DAYS = {"completed": 30.0, "compensated": 30.0, "cancelled": 30.0}
# The overview counts finished sagas from a baseline recounted every 10 minutes that leaves
# out the last 5 (dashboard/overview.py TerminalCounts); a pruned saga must have been in
# that baseline for its subtraction to be exact, so nothing younger than this is pruned.
MIN_RETENTION_SECONDS = 15 * 60.0


def retention_seconds(saga_type: str, outcome: str) -> float | None:
    """How long a saga of this type that ended so is kept; None means never pruned.

    Outcomes are `completed`, `compensated` (a step failed or was refused) and `cancelled`
    (compensated because an operator cancelled or compensated it). A saga type may say so
    itself (`retention = {"completed": 7}` in days on the Saga class); the setting
    SAGASCOPE_RETENTION ({"order": {"completed": 7}, "*": {"cancelled": 90}}, in days, None
    for never) overrides it per type. Failed and active sagas are never pruned.
    """
    from sagas.registry import registry  # the registry imports definitions, which read settings

    if outcome not in RETENTION_OUTCOMES:
        return None
    configured = dict(getattr(settings, "SAGASCOPE_RETENTION", {}) or {})
    declared = dict(getattr(registry.find(saga_type), "retention", None) or {})
    for source in (configured.get(saga_type) or {}, declared, configured.get("*") or {}):
        if outcome in source:
            days = source[outcome]
            break
    else:
        days = DEFAULT_RETENTION_DAYS[outcome]
    if days is None:
        return None
    return max(float(days) * 86400.0, MIN_RETENTION_SECONDS)


def retention_types() -> list[str]:
    """Saga types with a retention of their own (declared or configured); others use "*"."""
    from sagas.registry import registry

    configured = {key for key in getattr(settings, "SAGASCOPE_RETENTION", {}) or {} if key != "*"}
    declared = {
        name for name in registry.names() if getattr(registry.find(name), "retention", None)
    }
    return sorted(configured | declared)


def archive_dir() -> str:
    """Where pruned sagas are archived (gzip JSON lines, a directory per day)."""
    default = str(Path(getattr(settings, "BASE_DIR", ".")) / "archive")
    return str(getattr(settings, "SAGASCOPE_ARCHIVE_DIR", "") or default)


def archive_bucket() -> str:
    """An S3-compatible bucket for archives instead of the directory: s3://bucket[/prefix]."""
    return str(getattr(settings, "SAGASCOPE_ARCHIVE_BUCKET", "") or "")


def archive_endpoint_url() -> str:
    """The bucket's endpoint for an S3-compatible service (MinIO...); "" for AWS itself."""
    return str(getattr(settings, "SAGASCOPE_ARCHIVE_ENDPOINT_URL", "") or "")


def prune_enabled() -> bool:
    """Whether workers prune finished sagas (one pruner at a time, by a lease)."""
    return bool(getattr(settings, "SAGASCOPE_PRUNE", True))


def prune_interval() -> float:
    """Seconds between two prune runs, across all workers."""
    return float(getattr(settings, "SAGASCOPE_PRUNE_INTERVAL", 600.0))


def prune_batch_size() -> int:
    """Sagas archived and deleted per transaction: small, so no lock is held for long."""
    return int(getattr(settings, "SAGASCOPE_PRUNE_BATCH", 200))


def replay_keys_seconds() -> float:
    """How long applied reply rows are kept as the keys that refuse a replayed reply: far
    longer than the signature window (the retention service never goes below twice it)."""
    return float(getattr(settings, "SAGASCOPE_REPLAY_KEYS_DAYS", 7.0)) * 86400.0


def loaded_keep_seconds() -> float:
    """How long sagas loaded back from an archive (manage.py archive_load) stay loaded."""
    return float(getattr(settings, "SAGASCOPE_LOADED_KEEP_DAYS", 7.0)) * 86400.0
