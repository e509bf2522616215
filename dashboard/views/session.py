"""Whether this browser's session still admits it to the dashboard: what a live page asks
when its socket is refused at the handshake, which tells the browser nothing but "closed"
(1006), the same as a server that is down."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from sagas.services.actors import is_staff


@require_GET
@never_cache
def session_state(request: HttpRequest) -> JsonResponse:
    """200 while the session is an active staff user's (the sockets' own check); 401 once it
    has ended (logged out, expired, password changed, staff rights taken away)."""
    if is_staff(request.user):
        return JsonResponse({"staff": True})
    return JsonResponse({"staff": False}, status=401)
