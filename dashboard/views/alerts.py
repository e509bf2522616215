from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sagas.services import alerts as service
from sagas.services.actors import MANAGE_ALERTS, Actor


@staff_member_required(login_url="login")
def alerts(request: HttpRequest) -> HttpResponse:
    """The alert history: each alert fired (or throttled), resolved, and its deliveries."""
    actor = Actor.of_user(request.user)
    rows = [service.summary(a) for a in service.history(actor)]
    context = {"rows": rows, "page": "alerts", "manages": actor.may(MANAGE_ALERTS)}
    return render(request, "dashboard/alerts.html", context)
