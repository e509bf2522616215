"""HTTP participants for the messaging tests: the demo services on real sockets."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import pytest

from sagas.messaging.transports.http import make_server
from sagas.participant import participants


@pytest.fixture
def http_participants(settings) -> Iterator[dict[str, str]]:
    """Every demo participant served over HTTP on a free port; yields {name: secret}."""
    names = participants.names()
    keys = {name: secrets.token_hex(16) for name in names}
    settings.SAGASCOPE_PARTICIPANT_SECRETS = keys
    servers = {name: make_server(participants.get(name), "127.0.0.1", 0) for name in names}
    settings.SAGASCOPE_PARTICIPANT_URLS = {
        name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in servers.items()
    }
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers.values()]
    for thread in threads:
        thread.start()
    yield keys
    for server in servers.values():
        server.shutdown()
        server.server_close()
