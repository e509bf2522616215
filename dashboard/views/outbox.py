from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from sagas.services.queries import InvalidQuery

from .. import deadletters
from .. import outbox as figures


@staff_member_required(login_url="login")
def outbox(request: HttpRequest) -> HttpResponse:
    context = {
        "data": figures.compute(),
        "page": "outbox",
        "what": deadletters.WHAT,
        "todo": deadletters.TODO,
    }
    return render(request, "dashboard/outbox.html", context)


@staff_member_required(login_url="login")
def dead_letters(request: HttpRequest) -> HttpResponse:
    """Every dead letter, newest first, a page at a time; `?destination=` narrows it."""
    destination = request.GET.get("destination", "")[:200]
    context = {
        "page": "outbox",
        "destination": destination,
        "what": deadletters.WHAT,
        "todo": deadletters.TODO,
    }
    try:
        context["dead"] = deadletters.page(destination, request.GET.get("before", ""))
    except InvalidQuery as exc:
        context.update(error=str(exc), field=exc.field)
        return render(request, "dashboard/outbox_dead.html", context, status=400)
    return render(request, "dashboard/outbox_dead.html", context)
