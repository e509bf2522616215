"""Who is calling the API: a service with a bearer token, or a staff user with a session.

A request that carries an Authorization header is judged by that header alone: a token
that is wrong gets 401 at once, and the session (whose CSRF check would answer 403 and hide
the real problem) is not consulted.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer

from sagas.models import ApiToken
from sagas.services.actors import Actor, is_staff

NEW_TOKEN = "ask for a new one (manage.py create_api_token)"
BAD_HEADER = "the Authorization header must be 'Bearer <token>'"


def names_credentials(request: HttpRequest) -> bool:
    return bool(request.headers.get("Authorization"))


class TokenAuth(HttpBearer):
    """`Authorization: Bearer sgs_...`, a token made by `manage.py create_api_token`."""

    def __call__(self, request: HttpRequest) -> Actor | None:
        if not names_credentials(request):
            return None  # no header: the session may answer
        scheme, _, token = request.headers["Authorization"].partition(" ")
        if scheme.lower() != self.openapi_scheme or not token.strip():
            raise AuthenticationError(message=BAD_HEADER)
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Actor:
        found = ApiToken.objects.filter(token_hash=ApiToken.hash(token)).first()
        now = timezone.now()
        if found is None:
            raise AuthenticationError(message=f"invalid API token; {NEW_TOKEN}")
        if found.state(now) == "revoked":
            raise AuthenticationError(message=f"this API token was revoked; {NEW_TOKEN}")
        if found.state(now) == "expired":
            raise AuthenticationError(message=f"this API token has expired; {NEW_TOKEN}")
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        return Actor.of_token(found)


class StaffSessionAuth(APIKeyCookie):
    """An operator's Django session; unsafe methods also need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Actor | None:
        if names_credentials(request):
            return None  # the request chose its credentials: TokenAuth has answered
        if not is_staff(request.user):
            return None  # no operator's session to protect: 401, not a CSRF 403
        return super().__call__(request)  # type: ignore[no-any-return]  # CSRF, then authenticate

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        user: Any = request.user
        return Actor.of_user(user) if is_staff(user) else None


def actor_of(request: HttpRequest) -> Actor:
    """Who called: what TokenAuth or StaffSessionAuth found."""
    return request.auth  # type: ignore[attr-defined, no-any-return]
