"""Which pages may open a live socket: the Origin must be the socket's own origin (scheme,
host and port, the host one of ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS, as Django
checks a POST; a host alone is not enough (another port is another site)."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from tests.sockets import run

# Live sockets: channels' database_sync_to_async closes the test's connection
# (close_old_connections), and with it a test-wide transaction.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20
PATH = "/ws/overview/"


def socket(user, host: str, origin: str | None, **scope) -> WebsocketCommunicator:
    from config.asgi import application

    headers = [(b"host", host.encode()), (b"cookie", f"sessionid={user._test_session}".encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.encode(), value.encode()) for name, value in scope.pop("headers", [])]
    ws = WebsocketCommunicator(application, PATH, headers=headers)
    ws.scope.update(scope)
    return ws


def opens(ws: WebsocketCommunicator) -> bool:
    result: list[bool] = []

    async def scenario():
        connected, _ = await ws.connect(timeout=WAIT)
        result.append(connected)
        if connected:
            await ws.disconnect()

    run(scenario)
    return result[0]


@pytest.mark.parametrize(
    ("host", "origin", "accepted"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000", True),
        ("localhost:8000", "http://localhost:8000", True),
        ("127.0.0.1", "http://127.0.0.1:80", True),  # the default port, spelt out
        ("127.0.0.1:8000", "http://127.0.0.1:31337", False),  # another port: another site
        ("127.0.0.1:8000", "http://127.0.0.1", False),
        ("127.0.0.1:8000", "https://127.0.0.1:8000", False),  # another scheme
        ("127.0.0.1:8000", "http://localhost:8000", False),  # another host of ours
        ("127.0.0.1:8000", "http://127.0.0.1:8000.evil.example", False),
        ("127.0.0.1:8000", "null", False),
        ("127.0.0.1:8000", None, False),
        # DNS rebinding: their name, our address; the Host is not one of ALLOWED_HOSTS.
        ("evil.example:8000", "http://evil.example:8000", False),
        ("127.0.0.1:8000@evil.example", "http://127.0.0.1:8000@evil.example", False),
    ],
)
def test_only_the_sockets_own_origin_may_open_it(host, origin, accepted, operator):
    assert opens(socket(operator, host, origin)) is accepted, (host, origin)


def test_a_tls_socket_takes_https_pages_only(operator):
    assert opens(socket(operator, "127.0.0.1:8443", "https://127.0.0.1:8443", scheme="wss"))
    assert not opens(socket(operator, "127.0.0.1:8443", "http://127.0.0.1:8443", scheme="wss"))


def test_behind_a_tls_proxy_the_forwarded_scheme_counts_as_django_does(operator, settings):
    forwarded = {"headers": [("x-forwarded-proto", "https")]}
    # Without SECURE_PROXY_SSL_HEADER the header is anyone's to send: it is ignored.
    assert not opens(socket(operator, "127.0.0.1", "https://127.0.0.1", **forwarded))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert opens(socket(operator, "127.0.0.1", "https://127.0.0.1", **forwarded))
    assert not opens(socket(operator, "127.0.0.1", "http://127.0.0.1", **forwarded))


def test_csrf_trusted_origins_may_open_sockets_too(operator, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://ops.example.com", "https://*.corp.example"]
    internal = "127.0.0.1:8000"  # what a proxy in front may send as the Host
    assert opens(socket(operator, internal, "https://ops.example.com"))
    assert opens(socket(operator, internal, "https://a.corp.example"))
    assert not opens(socket(operator, internal, "http://ops.example.com"))
    assert not opens(socket(operator, internal, "https://ops.example.com:8443"))
    assert not opens(socket(operator, internal, "https://ops.example.com.evil.example"))
    assert not opens(socket(operator, internal, "https://corp.example.evil"))
