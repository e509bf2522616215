"""One tracer provider per process (and per in-process participant service), configured
only by the standard OTEL_* variables: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT (or
..._TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf by default, or grpc),
OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true to turn export off.

Without an endpoint nothing is exported (no collector, no noise); ids and context still
flow through every message, so a collector added later sees whole traces.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .ids import PresetIdGenerator

log = logging.getLogger(__name__)

_lock = threading.Lock()
_main: TracerProvider | None = None
_services: dict[str, TracerProvider] = {}


def exporting() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "otlp"
    )


def _exporter():  # type: ignore[no-untyped-def]
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def _provider(service_name: str, prefer_env: bool) -> TracerProvider:
    attributes = {}
    if not (prefer_env and os.environ.get("OTEL_SERVICE_NAME")):
        attributes["service.name"] = service_name
    provider = TracerProvider(
        resource=Resource.create(attributes), id_generator=PresetIdGenerator()
    )
    if exporting():
        provider.add_span_processor(BatchSpanProcessor(_exporter()))
    return provider


def configure(service_name: str) -> TracerProvider:
    """Set this process's tracer provider once; later calls return the first one."""
    global _main
    with _lock:
        if _main is None:
            _main = _provider(service_name, prefer_env=True)
            trace.set_tracer_provider(_main)
            atexit.register(shutdown)
            log.debug("telemetry for %s (exporting: %s)", service_name, exporting())
        return _main


def provider_for(service_name: str) -> TracerProvider:
    """A provider naming `service_name`, for participants that share a process (the demo)."""
    with _lock:
        provider = _services.get(service_name)
        if provider is None:
            provider = _services[service_name] = _provider(service_name, prefer_env=False)
        return provider


def main_provider() -> TracerProvider | None:
    return _main


def shutdown() -> None:
    """Flush and stop every provider: spans still in a batch are exported now."""
    with _lock:
        providers = [p for p in (_main, *_services.values()) if p is not None]
    for provider in providers:
        try:
            provider.shutdown()
        except Exception as exc:
            log.warning("telemetry shutdown failed: %s", exc)


# Query parameters holding search text, which may name a sensitive value
# (`input.card_number = "4111..."`): a span keeps the parameter, not its value.
SEARCH_PARAMS = ("q", "query", "search")
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.query")


def hide_search_text(span: Any, scope: dict[str, Any]) -> None:
    """A server span's URL attributes with the search parameters' values replaced."""
    try:
        for name in _URL_ATTRIBUTES:
            value = (span.attributes or {}).get(name)
            if isinstance(value, str) and any(f"{p}=" in value for p in SEARCH_PARAMS):
                span.set_attribute(name, _without_search_text(value))
    except Exception as exc:  # telemetry never breaks a request
        log.warning("could not clean a span's URL: %s", exc)


def _without_search_text(url: str) -> str:
    head, mark, query = url.rpartition("?") if "?" in url else ("", "", url)
    parts = []
    for item in query.split("&"):
        key, eq, _ = item.partition("=")
        parts.append(f"{key}=REDACTED" if eq and key in SEARCH_PARAMS else item)
    return head + mark + "&".join(parts)


def traced_http(app: Any) -> Any:
    """Server spans for HTTP requests, continuing an incoming traceparent; best effort.

    The ASGI middleware, not Django's: that one is sync-only and would put every request on
    a thread waiting for the event loop, which a SIGTERM mid-request leaves waiting forever.
    """
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        # Exclude send/receive sub-spans: a page load is one span, not three.
        return OpenTelemetryMiddleware(
            app,
            excluded_urls="healthz,readyz,static/",
            tracer_provider=_main,
            exclude_spans=["receive", "send"],
            server_request_hook=hide_search_text,
        )
    except Exception as exc:  # telemetry must never stop the web process
        log.warning("HTTP instrumentation unavailable: %s", exc)
        return app
