"""Saved views' pages: save the list as it is, open a view (its URL is shareable), list,
edit and delete views. sagas/services/savedviews.py validates and decides who may."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from sagas.models import SavedView
from sagas.services import savedviews
from sagas.services.actors import Actor
from sagas.services.listcolumns import COLUMNS, parse_columns
from sagas.services.savedviews import InvalidView, ViewNotFound

MAX_ID = 2**63 - 1


@staff_member_required(login_url="login")
def saved_views(request: HttpRequest) -> HttpResponse:
    actor = Actor.of_user(request.user)
    rows = [
        {
            "view": view,
            "mine": view.owner_id == request.user.pk,
            "editable": savedviews.may_change(actor, view),
            "deletable": savedviews.may_change(actor, view, savedviews.DELETE),
        }
        for view in savedviews.visible(actor)
    ]
    return render(request, "dashboard/saved_views.html", {"page": "views", "rows": rows})


@require_POST
@staff_member_required(login_url="login")
def view_save(request: HttpRequest) -> HttpResponse:
    """ "Save this view" from the list: the list's filters, the ticked columns, a name."""
    filters = request.POST.get("filters", "")
    try:
        view = savedviews.create(
            Actor.of_user(request.user),
            name=request.POST.get("name", ""),
            querystring=filters,
            columns=",".join(request.POST.getlist("columns")),
            shared=request.POST.get("shared") == "on",
        )
    except InvalidView as exc:
        messages.error(request, f"The view was not saved: {exc}")
        return HttpResponseRedirect(reverse("saga-list") + _query(filters))
    messages.success(request, f"Saved the view “{view.name}”.")
    return redirect("saved-view", view_id=view.pk)


@staff_member_required(login_url="login")
def view_open(request: HttpRequest, view_id: int) -> HttpResponse:
    view = _visible(request, view_id)
    return HttpResponseRedirect(reverse("saga-list") + "?" + savedviews.list_url_query(view))


@staff_member_required(login_url="login")
def view_edit(request: HttpRequest, view_id: int) -> HttpResponse:
    actor = Actor.of_user(request.user)
    view = _visible(request, view_id)
    if not savedviews.may_change(actor, view):
        raise PermissionDenied(f"only {view.owner.get_username()} may change this view")
    context = {
        "page": "views",
        "view": view,
        "all_columns": list(COLUMNS.items()),
        "chosen": list(parse_columns(view.columns)),
        "max_name": savedviews.MAX_NAME,
    }
    if request.method == "POST":
        try:
            savedviews.update(
                actor,
                view.pk,
                name=request.POST.get("name", ""),
                querystring=request.POST.get("filters", ""),
                columns=",".join(request.POST.getlist("columns")),
                shared=request.POST.get("shared") == "on",
            )
        except InvalidView as exc:
            context.update(error=str(exc), field=exc.field, filters=request.POST.get("filters", ""))
            return render(request, "dashboard/saved_view_edit.html", context, status=400)
        messages.success(request, "Saved the view.")
        return redirect("saved-views")
    context["filters"] = view.querystring
    return render(request, "dashboard/saved_view_edit.html", context)


@require_POST
@staff_member_required(login_url="login")
def view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = _visible(request, view_id)
    savedviews.delete(Actor.of_user(request.user), view.pk)  # PermissionDenied: a 403
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("saved-views")


def _visible(request: HttpRequest, view_id: int) -> SavedView:
    if view_id > MAX_ID:
        raise Http404("no such view")
    try:
        return savedviews.get(Actor.of_user(request.user), view_id)
    except ViewNotFound as exc:
        raise Http404(str(exc)) from None


def _query(filters: str) -> str:
    try:
        cleaned = savedviews.clean_querystring(filters)
    except InvalidView:
        return ""
    return f"?{cleaned}" if cleaned else ""
