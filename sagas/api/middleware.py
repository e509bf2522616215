"""Errors that Django or ninja answer before an API view runs (a method the path does not
take, a path with no operation) become JSON with a `detail` too, like every API error."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse


class JsonApiErrors:
    """Rewrites a non-JSON error response under the API's prefix; leaves the rest alone."""

    # Async-capable like every middleware here: one sync-only middleware under daphne puts
    # each request on a thread waiting for the event loop, and SIGTERM then hangs the server.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._prefix: str | None = None
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self.rewrite(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self.rewrite(request, await self.get_response(request))

    def rewrite(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or not request.path.startswith(self.prefix()):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        rewritten = JsonResponse({"detail": detail(request, response)}, status=response.status_code)
        if response.has_header("Allow"):
            rewritten["Allow"] = response["Allow"]
        return rewritten

    def prefix(self) -> str:
        # Resolved on first use, not at start-up: the URLconf may not be loaded yet then.
        if self._prefix is None:
            self._prefix = reverse("api:api-root")
        return self._prefix


def detail(request: HttpRequest, response: HttpResponse) -> str:
    status = response.status_code
    if status == 405:
        allowed = response.get("Allow") or "another method"
        return f"{request.method} is not allowed on {request.path}; use {allowed}"
    if status == 404:
        docs = reverse("api:openapi-view")
        return f"nothing at {request.path}; the operations are listed at {docs}"
    try:
        phrase = HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = "error"
    return f"{phrase} ({status})"
