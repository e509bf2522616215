"""GET /metrics: the Prometheus text format, from prometheus-client, for a scraper holding
the token (or on the allow-list); see sagas/services/metrics.py for what it says."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from sagas.exceptions import MetricsRefused, MetricsUnauthenticated
from sagas.services import metrics

PLAIN = "text/plain; charset=utf-8"


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.GET:
        name = sorted(request.GET)[0]
        return HttpResponse(f"/metrics takes no parameters; got {name!r}\n", PLAIN, status=400)
    try:
        metrics.authorize(
            request.headers.get("Authorization", ""), request.META.get("REMOTE_ADDR", "")
        )
    except MetricsRefused as exc:
        unauthenticated = isinstance(exc, MetricsUnauthenticated)
        response = HttpResponse(f"{exc}\n", PLAIN, status=401 if unauthenticated else 403)
        if unauthenticated:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(generate_latest(metrics.registry()), CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
