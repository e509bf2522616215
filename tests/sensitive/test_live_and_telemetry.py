"""A real worker runs a vault saga: its spans and log lines hold no sensitive value, nor
does the detail page's websocket frame (masked for every user, a reveal being one audited
page load); a search's text is cut from the server span's URL."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sagas.sensitive import MARKER
from sagas.telemetry import setup
from tests.sockets import communicator, run, session_cookie

from .vault import CARD, leaks, worked

LIVE = pytest.mark.django_db(transaction=True)
WAIT = 20


@pytest.fixture
def spans(monkeypatch):
    """Spans the sagascope code exports, kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(setup, "_main", provider)
    return exporter


def everything_in(span) -> str:
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    return json.dumps([span.name, dict(span.attributes or {}), events], default=str)


@LIVE
def test_the_worker_s_spans_and_log_lines_hold_no_sensitive_value(spans, caplog):
    caplog.set_level(logging.DEBUG)
    saga = worked()
    exported = spans.get_finished_spans()
    names = {s.name for s in exported}
    assert {"charge", "confirm", "saga vault"} <= names
    assert all(leaks(everything_in(s)) == [] for s in exported)
    assert [leaks(r.getMessage()) for r in caplog.records if leaks(r.getMessage())] == []
    assert saga.input["card_number"] == CARD  # stored whole, for the steps


@LIVE
def test_the_detail_socket_s_frames_are_masked_even_for_a_permitted_user(django_user_model):
    from .vault import staff

    saga = worked()
    for name, perms in (("reader", ()), ("revealer", ("view_sensitive",))):
        user = staff(django_user_model, name, *perms)
        user._test_session = session_cookie(user)
        frames = []

        async def scenario(user=user, frames=frames):
            ws = communicator(f"/ws/sagas/{saga.id}/", user)
            assert (await ws.connect(timeout=WAIT))[0]
            frames.append(await ws.receive_json_from(timeout=WAIT))
            await ws.send_json_to({"type": "replay", "after": 0})
            frames.append(await ws.receive_json_from(timeout=WAIT))
            await ws.disconnect()

        run(scenario)
        snapshot = frames[0]
        assert snapshot["type"] == "snapshot"
        assert snapshot["saga"]["context"]["charge"]["token"] == MARKER
        charge = next(a for a in snapshot["attempts"] if a["name"] == "charge")
        assert charge["result"]["token"] == MARKER
        assert leaks(json.dumps(frames)) == []


def test_a_search_s_text_is_cut_from_the_server_span(spans):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    traced = setup.traced_http(app)
    query = f'input.card_number = "{CARD}"'
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/sagas",
        "raw_path": b"/api/sagas",
        "query_string": f"query={quote(query)}&limit=5".encode(),
        "headers": [(b"host", b"127.0.0.1")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    # A thread of its own: the browser tests' Playwright keeps a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(async_to_sync(traced), scope, receive, send).result()
    (span,) = spans.get_finished_spans()
    text = everything_in(span)
    assert leaks(text) == [] and "card_number" not in text
    assert "query=REDACTED" in text and "limit=5" in text
