"""Who is calling the API: a service with a bearer token, or a staff user with a session."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from sagas.models import ApiToken
from sagas.services.actions import Actor


class TokenAuth(HttpBearer):
    """`Authorization: Bearer sgs_...`, a token made by `manage.py create_api_token`."""

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        found = ApiToken.objects.filter(token_hash=ApiToken.hash(token), revoked_at=None).first()
        if found is None:
            return None
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
        return Actor(name=f"token:{found.name}", scopes=frozenset(found.scopes), token_id=found.pk)


class StaffSessionAuth(APIKeyCookie):
    """An operator's Django session; unsafe methods also need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        user: Any = request.user
        if user.is_authenticated and user.is_active and user.is_staff:
            return Actor(name=user.get_username(), user=user)
        return None


def can_read(actor: Actor) -> bool:
    return actor.user is not None or "read" in actor.scopes


def can_start(actor: Actor) -> bool:
    if actor.user is not None:
        return actor.user.has_perm("sagas.start_saga")
    return "start" in actor.scopes
