"""The answer to a login attempt refused by the throttle (django-axes' AXES_LOCKOUT_CALLABLE):
429, saying for how long, on the login page's own layout."""

from __future__ import annotations

import math
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    # axes 8.3.1 calls this with (request, credentials) from its async middleware and with
    # (request, response, credentials) from its sync one.
    if credentials is None and isinstance(original_response, dict):
        credentials = original_response
    context = {"minutes": minutes_left(request, credentials)}
    return render(request, "registration/locked_out.html", context, status=429)


def minutes_left(request: HttpRequest, credentials: dict | None) -> int:
    """Minutes until the newest failure that locks this attempt out is older than the
    cool-off; the whole cool-off if it cannot be told."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return 0  # no cool-off configured: the lock lasts until an admin lifts it
    handler: Any = AxesProxyHandler.get_implementation()  # the database handler's attempts
    newest = [
        qs.aggregate(newest=Max("attempt_time"))["newest"]
        for qs in handler.get_user_attempts(request, credentials)
    ]
    times = [t for t in newest if t is not None]
    if not times:
        return math.ceil(cool_off.total_seconds() / 60)
    left = (max(times) + cool_off - timezone.now()).total_seconds()
    return max(1, math.ceil(left / 60))
