"""One operator action on one saga, and what the detail page asks before it: the actions on
offer now, and the diff of an edited input.

The service layer decides and refuses; these views check the permission first (so a user
without it gets 403 whatever the saga's state), turn refusals into statuses (409: the
state or the version does not allow it), and answer the page's script in JSON, or a plain
form post with a page.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sagas import sensitive
from sagas.exceptions import SagaError
from sagas.models import OperatorAction, SagaInstance
from sagas.services import restart
from sagas.services.actions import ACTIONS, authorize, definition_of, perform
from sagas.services.actors import Actor
from sagas.services.jsondiff import diff
from sagas.services.start import validate_input
from sagas.storable import MAX_DEPTH, json_problem

from .. import operator
from ..refusals import INVALID, Refusal, json_refusal, message_of, status_of, wants_json
from .sagas import detail_context

EDIT = "retry_with_input"


@require_POST
@staff_member_required(login_url="login")
def saga_action(request: HttpRequest, saga_id: UUID, action: str) -> HttpResponse:
    try:
        saga, record = _perform(request, saga_id, action)
    except (Refusal, SagaError, PermissionDenied) as exc:
        return _refused(request, saga_id, exc)
    text = f"{operator.label(action)} applied: the saga is {saga.status} (version {saga.version})."
    if wants_json(request):
        return JsonResponse(
            {
                "detail": text,
                "action": operator.audit_entry(record, saga.saga_type),
                "operator": operator.panel(saga, request.user),
            }
        )
    messages.success(request, text)
    return redirect("saga-detail", saga_id=saga_id)


@require_POST
@staff_member_required(login_url="login")
def saga_restart(request: HttpRequest, saga_id: UUID) -> HttpResponse:
    """Start a new saga of the same type with the edited input; its page is where the
    operator goes next."""
    actor = Actor.of_user(request.user)
    try:
        restart.authorize(actor)  # first: without the permissions, 403 whatever was sent
        new_input = parse_input(request.POST.get("input", ""))
        reason = request.POST.get("reason", "")
        done = restart.restart(saga_id, actor=actor, new_input=new_input, reason=reason)
    except (Refusal, SagaError, PermissionDenied) as exc:
        return _refused(request, saga_id, exc)
    new = done.new
    url = reverse("saga-detail", args=[new.id])
    started = "Started" if done.created else "Already started (same input)"
    text = f"{started}: {new.saga_type} saga {str(new.id)[:8]}, from this one."
    if wants_json(request):
        body = {
            "detail": text,
            "saga": str(new.id),
            "url": url,
            "created": done.created,
            "operator": operator.panel(done.old, request.user),
        }
        return JsonResponse(body, status=201 if done.created else 200)
    messages.success(request, text)
    return redirect(url)


@require_GET
@staff_member_required(login_url="login")
def saga_operator(request: HttpRequest, saga_id: UUID) -> JsonResponse:
    """The actions on offer and the audit trail now; the page asks when the saga changed."""
    saga = get_object_or_404(SagaInstance, id=saga_id)
    return JsonResponse(operator.panel(saga, request.user))


@require_POST
@staff_member_required(login_url="login")
def input_diff(request: HttpRequest, saga_id: UUID) -> JsonResponse:
    """What an edited input changes against the saga's current one, and what the service
    layer's validation says of it, while the operator types (nothing is saved)."""
    saga = get_object_or_404(SagaInstance, id=saga_id)
    try:
        authorize(Actor.of_user(request.user), EDIT)
        new_input = parse_input(request.POST.get("input", ""))
    except (Refusal, PermissionDenied) as exc:
        return json_refusal(exc)
    # Masked values sent back keep the stored ones; the answer shows the diff masked.
    new_input = sensitive.restore(saga.saga_type, new_input, saga.input)
    changes = sensitive.mask_detail(saga.saga_type, {"input_diff": diff(saga.input, new_input)})
    changes = changes["input_diff"]
    # A new saga may start from the same input; an edit of this one must change it.
    same_ok = request.GET.get("for") == "restart"
    same = "No change: the new input is the same as the current one."
    problem = "" if changes or same_ok else same
    try:
        validate_input(new_input)
        definition_of(saga).validate_input(new_input)
    except SagaError as exc:
        problem = message_of(exc)
    return JsonResponse({"version": saga.version, "changes": changes, "problem": problem})


def parse_input(text: str) -> dict[str, Any]:
    """The operator's edited input: a JSON object, or a Refusal saying what is wrong."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise Refusal(
            INVALID,
            f"The new input is nested too deeply to read; an input may be {MAX_DEPTH} levels deep.",
            "input",
        ) from None
    except json.JSONDecodeError as exc:
        raise Refusal(
            INVALID,
            f"The new input is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            "input",
        ) from None
    except ValueError as exc:
        raise Refusal(INVALID, f"The new input is not valid JSON: {exc}.", "input") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        raise Refusal(
            INVALID,
            "The new input must be a JSON object ({...}), not "
            f"{kind.get(type(value), 'a number')}.",
            "input",
        )
    # Checked here, before anything walks or writes it (the diff, the JSON answer): what
    # the service layer would refuse is refused at the door, as the API's parser does.
    problem = json_problem(value, "input")
    if problem:
        raise Refusal(INVALID, f"The new input cannot be used: {problem}.", "input")
    return value


def _no_constant(name: str) -> Any:
    # Python's json takes NaN and Infinity; JSON (and PostgreSQL's jsonb) does not.
    raise ValueError(f"{name} is not a JSON value")


def _perform(request: HttpRequest, saga_id: UUID, action: str) -> tuple[Any, OperatorAction]:
    if action not in ACTIONS:
        raise Refusal(404, f"Unknown action {action!r}; one of: {', '.join(ACTIONS)}.")
    actor = Actor.of_user(request.user)
    authorize(actor, action)  # first: without the permission, 403 whatever else was sent
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        lost = "The form lost the saga's version; reload the page and decide again."
        raise Refusal(INVALID, lost, "version") from None
    reason = request.POST.get("reason", "")
    new_input = parse_input(request.POST.get("input", "")) if ACTIONS[action].edits_input else None
    return perform(
        saga_id, action, actor=actor, version=version, reason=reason, new_input=new_input
    )


def _refused(request: HttpRequest, saga_id: UUID, exc: Exception) -> HttpResponse:
    saga = SagaInstance.objects.filter(id=saga_id).first()
    status = status_of(exc)
    if wants_json(request):
        current = operator.panel(saga, request.user) if saga is not None else None
        return json_refusal(exc, operator=current)
    if saga is None:
        raise Http404(message_of(exc))
    context = detail_context(request, saga, refusal=message_of(exc), refusal_status=status)
    return render(request, "dashboard/saga_detail.html", context, status=status)
