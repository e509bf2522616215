"""Downloads: one saga's history as JSON, the list (its filters and columns) as CSV. The
service layer builds both (sagas/services/history.py, csvexport.py) and checks permission."""

from __future__ import annotations

import json
from uuid import UUID

from django.contrib.admin.views.decorators import staff_member_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse

from sagas.services import csvexport, history
from sagas.services.actions import SagaNotFound
from sagas.services.actors import Actor
from sagas.services.queries import InvalidQuery

from .. import filters


@staff_member_required(login_url="login")
def saga_history(request: HttpRequest, saga_id: UUID) -> HttpResponse:
    try:
        document = history.history(saga_id, Actor.of_user(request.user), tracebacks=True)
    except SagaNotFound as exc:
        raise Http404(str(exc)) from None
    body = json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{history.filename(saga_id)}"'
    return response


@staff_member_required(login_url="login")
def saga_export(request: HttpRequest) -> HttpResponse:
    """The list's sagas as CSV: every page of its filters, in its columns."""
    try:
        query = filters.parse(request.GET)
        lines = csvexport.export(query.saga_filter, Actor.of_user(request.user), query.columns)
    except InvalidQuery as exc:
        return HttpResponse(
            f"Bad filter {exc.field}: {exc}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    return csvexport.download(lines)
