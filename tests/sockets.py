"""Websocket connections through the whole ASGI application (origin check, session auth,
routing), as a browser makes them, for tests that run outside an event loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

ORIGIN = "http://127.0.0.1"


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run an async scenario from a sync test; its database work runs on this thread."""
    async_to_sync(scenario)()


def communicator(path: str, user: Any = None, origin: str | None = ORIGIN) -> WebsocketCommunicator:
    from config.asgi import application

    headers = [(b"host", b"127.0.0.1")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if user is not None:
        # Read here, in sync code: the session row must exist before the socket opens.
        headers.append((b"cookie", f"sessionid={user._test_session}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)
