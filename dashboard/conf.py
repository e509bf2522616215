"""The dashboard's settings, with their defaults; the dashboard reads settings only here."""

from __future__ import annotations

from django.conf import settings

from sagas.conf import DEFAULT_STUCK_SECONDS, stuck_seconds  # noqa: F401 (the dashboard's too)
from sagas.telemetry.setup import exporting

# Multipart framing (boundaries, part headers) that Django does not count against
# DATA_UPLOAD_MAX_MEMORY_SIZE: a form at Django's limit is somewhat larger on the wire.
MULTIPART_FRAMING = 64 * 1024


def coalesce_seconds() -> float:
    """The longest the list feed holds a change back to send it with others, when changes
    come faster than it can send them one by one (a quiet feed sends each at once)."""
    return float(getattr(settings, "SAGASCOPE_LIVE_COALESCE_SECONDS", 0.05))


def count_refresh_seconds() -> float:
    """The list's "all N match" count is recounted at most this often while sagas change."""
    return float(getattr(settings, "SAGASCOPE_LIST_COUNT_SECONDS", 2.0))


def overview_refresh_seconds() -> float:
    """The overview is recomputed at most this often, however many events arrive."""
    return float(getattr(settings, "SAGASCOPE_OVERVIEW_REFRESH_SECONDS", 2.0))


def outbox_poll_seconds() -> float:
    """The outbox page's figures are re-read this often (the relay writes no saga events)."""
    return float(getattr(settings, "SAGASCOPE_OUTBOX_POLL_SECONDS", 2.0))


def max_frame_bytes() -> int:
    """Client frames larger than this get an error frame, unparsed."""
    return int(getattr(settings, "SAGASCOPE_LIVE_MAX_FRAME_BYTES", 4096))


def frame_burst() -> int:
    """Client frames a live socket handles at once before it starts dropping them."""
    return int(getattr(settings, "SAGASCOPE_LIVE_FRAME_BURST", 20))


def frames_per_second() -> float:
    """How fast a live socket's budget of client frames refills."""
    return float(getattr(settings, "SAGASCOPE_LIVE_FRAMES_PER_SECOND", 5.0))


def live_sockets_per_user() -> int:
    """Live sockets one user may hold open in one web process; the next one is refused."""
    return int(getattr(settings, "SAGASCOPE_LIVE_SOCKETS_PER_USER", 8))


def replay_window() -> int:
    """A list page further behind the newest event id than this reloads instead of
    catching up, so that catching up never scans more events than this."""
    return int(getattr(settings, "SAGASCOPE_LIVE_REPLAY_WINDOW", 10_000))


def request_body_limit() -> int | None:
    """The largest request body the web server reads (see config/bodylimit.py): Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE plus the framing of a form; None, Django's "no limit", too."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return None if limit is None else int(limit) + MULTIPART_FRAMING


def page_size() -> int:
    return int(getattr(settings, "SAGASCOPE_LIST_PAGE_SIZE", 50))


def traces_exported() -> bool:
    """Whether this deployment exports traces (the standard OTEL_* variables): without an
    exporter a link to Jaeger leads to a page that cannot show the trace, or to nothing."""
    return exporting()


# What the pages say where the trace link would be when no trace is exported.
TRACES_NOT_EXPORTED = (
    "traces are not exported: set OTEL_EXPORTER_OTLP_ENDPOINT, "
    "or run the docker-compose stack with Jaeger"
)
