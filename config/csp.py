"""A Content-Security-Policy on every response: scripts, styles and sockets from this site
only, and no inline script, so saga data that slipped into markup still could not run.

A fixed policy needs no nonces and no per-view overrides, which is all django-csp would add;
this is the whole of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

DEFAULT_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        # 'self' covers ws:// and wss:// to this host (CSP level 3).
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    # Async-capable, so under daphne the chain stays async down to the view: a sync-only
    # middleware here would park every request on a thread waiting for the event loop,
    # and a request in flight at SIGTERM would then keep the server from ever exiting.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._stamp(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._stamp(await self.get_response(request))

    def _stamp(self, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
