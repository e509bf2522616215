from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .. import outbox as figures


@staff_member_required(login_url="login")
def outbox(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/outbox.html", {"data": figures.compute(), "page": "outbox"})
