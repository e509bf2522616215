from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import workers as figures


@require_GET
@staff_member_required(login_url="login")
def workers(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/workers.html", {"data": figures.compute(), "page": "workers"})


@require_GET
@staff_member_required(login_url="login")
def workers_data(request: HttpRequest) -> JsonResponse:
    """The page's figures now; its script polls this every two seconds."""
    return JsonResponse(figures.compute())
