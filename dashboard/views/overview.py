from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .. import overview as figures


@staff_member_required(login_url="login")
def overview(request: HttpRequest) -> HttpResponse:
    data = figures.compute()
    return render(request, "dashboard/overview.html", {"data": data, "page": "overview"})
