"""The engine's settings, with their defaults; the engine reads settings only through here."""

from __future__ import annotations

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


def max_input_bytes() -> int:
    """The largest saga input accepted, as JSON."""
    return int(getattr(settings, "SAGASCOPE_MAX_INPUT_BYTES", 64 * 1024))


def trace_url(trace_id: str) -> str | None:
    """The saga's trace in Jaeger's UI (JAEGER_UI_URL), or None without a trace id."""
    if not trace_id:
        return None
    base = getattr(settings, "JAEGER_UI_URL", "http://localhost:16686").rstrip("/")
    return f"{base}/trace/{trace_id}"
