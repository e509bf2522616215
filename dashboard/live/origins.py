"""Which pages may open a live socket: one of ours, told apart by the Origin header.

A browser sends the session cookie with a websocket whichever site's page opens it; the
Origin header says which one did. The rule is Django's CSRF rule for a POST: the Origin is
the socket's own origin (scheme, host and port, the host one of ALLOWED_HOSTS) or one of
CSRF_TRUSTED_ORIGINS. A host alone is not enough: http://127.0.0.1:31337 is another site
than http://127.0.0.1:8000, though channels' AllowedHostsOriginValidator let it in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import split_domain_port, validate_host


class SameOriginValidator:
    """ASGI middleware for websockets: channels' OriginValidator (scheme, host and port
    must match), given per connection the origins that connection may come from."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        validator = _Validator(self.application, allowed_origins(scope))
        return await validator(scope, receive, send)


class _Validator(OriginValidator):
    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        try:
            return super().valid_origin(parsed_origin)
        except ValueError:  # "http://host:80.evil.example": urlparse's .port raises
            return False


def allowed_origins(scope: dict[str, Any]) -> list[str]:
    # Django's "https://*.example.com" is channels' "https://.example.com"; an entry
    # without a scheme (Django refuses them at start-up) would match any scheme and port.
    trusted = [
        origin.replace("://*.", "://.", 1)
        for origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])
        if "://" in origin
    ]
    own = own_origin(scope)
    return [own, *trusted] if own else trusted


def own_origin(scope: dict[str, Any]) -> str | None:
    """The origin of a page on the host this socket was opened on, if that host is ours."""
    host = header(scope, "host") or ""
    domain, _ = split_domain_port(host)
    # A leading dot would read as "any subdomain" to channels' matcher.
    if not domain or domain.startswith(".") or not validate_host(domain, allowed_hosts()):
        return None
    return f"{scheme(scope)}://{host.lower()}"


def allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:  # what Django's HttpRequest.get_host allows then
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def scheme(scope: dict[str, Any]) -> str:
    """http or https, as Django's request.is_secure() would say for this connection."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, secure = proxy
        # META's HTTP_X_FORWARDED_PROTO is the x-forwarded-proto header.
        value = header(scope, name.removeprefix("HTTP_").lower().replace("_", "-"))
        if value is not None:
            return "https" if value.split(",", 1)[0].strip() == secure else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def header(scope: dict[str, Any], name: str) -> str | None:
    wanted = name.encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None
