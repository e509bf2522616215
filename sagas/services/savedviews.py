"""Saved views: named saga lists (filters and columns), per operator and shared.

An operator sees their own views and every shared one, never another's private view (it
does not exist for them: ViewNotFound, not a refusal that would confirm it does). Only the
owner changes or deletes a view, or, for a shared one, an operator holding Django's
`sagas.change_savedview` / `sagas.delete_savedview`. Services (API tokens) own no views.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from sagas.exceptions import SagaError
from sagas.models import SavedView
from sagas.services import saga_query
from sagas.services.actors import Actor
from sagas.services.listcolumns import columns_text, parse_columns
from sagas.services.queries import MAX_SEARCH, InvalidQuery, Search, in_range
from sagas.statuses import SagaStatus
from sagas.storable import text_problem

CHANGE = "sagas.change_savedview"
DELETE = "sagas.delete_savedview"
MAX_NAME = 100
MAX_QUERYSTRING = 2000
NAV_VIEWS = 8  # how many the navigation lists; the views page lists them all


class ViewNotFound(SagaError):
    """No saved view with this id is yours or shared."""


class InvalidView(SagaError):
    """The saved view has an invalid name, filter or column."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _text(name: str, value: str, limit: int = MAX_SEARCH) -> None:
    if len(value) > limit:
        raise InvalidQuery(f"{name} is longer than {limit} characters", name)


def _status(name: str, value: str) -> None:
    if value not in SagaStatus.values:
        raise InvalidQuery(f"status must be one of {', '.join(SagaStatus.values)}", name)


def _search(name: str, value: str) -> None:
    # The list's box takes a plain term or a query (saga_query): stored only if it parses.
    if saga_query.looks_like_query(value):
        saga_query.parse(value)
    else:
        Search.parse(value)


def _time(name: str, value: str) -> None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(
            f"{name!r} must be a date and time like 2025-01-31T14:05", name
        ) from None
    in_range(moment, name)


def _problem(name: str, value: str) -> None:
    if not value.isdigit() or not 1 <= int(value) < 2**63:
        raise InvalidQuery("problem must be a problem's id (a whole number)", name)


# The list parameters a view may hold, each with its check; the order is the stored order.
# The list page checks them again, fully, when the view is opened. To add a parameter
# (the query language's `query=`), add one line here.
VIEW_PARAMS: dict[str, Callable[[str, str], None]] = {
    "type": lambda name, value: _text(name, value, 100),
    "status": _status,
    "q": _search,
    "from": _time,
    "to": _time,
    "problem": _problem,
}


def clean_querystring(querystring: str) -> str:
    """`querystring` with only known list parameters, each once and valid, in a stable
    order, blanks dropped; InvalidView naming the first problem."""
    querystring = querystring.strip().lstrip("?")
    if len(querystring) > MAX_QUERYSTRING:
        raise InvalidView(f"the filters are longer than {MAX_QUERYSTRING} characters", "filters")
    wrong = text_problem(querystring)
    if wrong:
        raise InvalidView(f"the filters {wrong}", "filters")
    try:
        pairs = parse_qsl(querystring, keep_blank_values=True, strict_parsing=bool(querystring))
    except ValueError:
        raise InvalidView(
            "the filters are not a query string (name=value&...)", "filters"
        ) from None
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in VIEW_PARAMS:
            known = ", ".join(VIEW_PARAMS)
            raise InvalidView(f"unknown filter {name[:40]!r}; a view keeps {known}", "filters")
        if name in values:
            raise InvalidView(f"the filter {name!r} is given twice", "filters")
        value = value.strip()
        wrong = text_problem(value)
        if wrong:
            raise InvalidView(f"the filter {name!r} {wrong}", "filters")
        if value:
            try:
                VIEW_PARAMS[name](name, value)
            except InvalidQuery as exc:
                raise InvalidView(str(exc), "filters") from None
        values[name] = value
    return urlencode([(name, values[name]) for name in VIEW_PARAMS if values.get(name)])


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidView("a view needs a name", "name")
    if len(name) > MAX_NAME:
        raise InvalidView(f"a view's name is at most {MAX_NAME} characters", "name")
    wrong = text_problem(name)
    if wrong:
        raise InvalidView(f"the name {wrong}", "name")
    return name


def _columns(text: str) -> str:
    try:
        return columns_text(parse_columns(text))
    except InvalidQuery as exc:
        raise InvalidView(str(exc), "columns") from None


def _user(actor: Actor) -> object:
    if actor.user is None or not actor.user.is_active:
        raise PermissionDenied(f"{actor.name} has no saved views: views belong to operators")
    return actor.user


def visible(actor: Actor) -> QuerySet[SavedView]:
    """The actor's own views and the shared ones: theirs first, then by name."""
    if actor.user is None or not actor.user.is_active:
        return SavedView.objects.none()
    mine = Case(
        When(owner=actor.user, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return (
        SavedView.objects.filter(Q(owner=actor.user) | Q(shared=True))
        .select_related("owner")
        .order_by(mine, "name", "id")
    )


def get(actor: Actor, view_id: int) -> SavedView:
    """The view if the actor may see it; else ViewNotFound."""
    found = visible(actor).filter(id=view_id).first()
    if found is None:
        raise ViewNotFound(f"no saved view {view_id} is yours or shared")
    return found


def may_change(actor: Actor, view: SavedView, permission: str = CHANGE) -> bool:
    """Whether `actor` may edit (CHANGE) or delete (DELETE) `view`."""
    if actor.user is None or not actor.user.is_active:
        return False
    return view.owner_id == actor.user.pk or (view.shared and actor.may(permission))


def create(
    actor: Actor, *, name: str, querystring: str = "", columns: str = "", shared: bool = False
) -> SavedView:
    """A new view owned by the actor; InvalidView for a bad field or a name they already use."""
    view = SavedView(
        owner=_user(actor),
        name=_name(name),
        querystring=clean_querystring(querystring),
        columns=_columns(columns),
        shared=bool(shared),
    )
    return _save(view)


def update(
    actor: Actor,
    view_id: int,
    *,
    name: str,
    querystring: str | None = None,
    columns: str = "",
    shared: bool = False,
) -> SavedView:
    """Change a view's name, columns, sharing and (if given) filters; PermissionDenied for
    anyone but its owner or a holder of CHANGE (shared views only)."""
    view = get(actor, view_id)
    if not may_change(actor, view):
        raise PermissionDenied(
            f"only {view.owner.get_username()} may change the view {view.name!r}"
        )
    view.name = _name(name)
    if querystring is not None:
        view.querystring = clean_querystring(querystring)
    view.columns = _columns(columns)
    view.shared = bool(shared)
    return _save(view)


def delete(actor: Actor, view_id: int) -> None:
    view = get(actor, view_id)
    if not may_change(actor, view, DELETE):
        raise PermissionDenied(
            f"only {view.owner.get_username()} may delete the view {view.name!r}"
        )
    view.delete()


def list_url_query(view: SavedView) -> str:
    """The list page's query string that shows `view`: its filters, columns and id."""
    extra = {"columns": view.columns} if view.columns else {}
    parts = [view.querystring, urlencode({**extra, "view": view.pk})]
    return "&".join(p for p in parts if p)


def _save(view: SavedView) -> SavedView:
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError:
        raise InvalidView(f"you already have a view named {view.name!r}", "name") from None
    return view
