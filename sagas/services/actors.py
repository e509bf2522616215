"""Who acts on sagas, and what each may do: the one place that decides.

An actor is an operator (an active staff user, with Django permissions) or a service (an
API token, with scopes). A scope grants Django permission names through SCOPE_PERMISSIONS,
so every face (API, dashboard, admin, live pages) asks one question: `actor.may(permission)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    from sagas.models import ApiToken

READ_SAGAS = "sagas.view_sagainstance"  # sagas, bulk operations, circuits
START_SAGA = "sagas.start_saga"
RETRY = "sagas.retry_saga"
RESUME = "sagas.resume_saga"
COMPENSATE = "sagas.compensate_saga"
CANCEL = "sagas.cancel_saga"
SKIP = "sagas.skip_step"
EDIT_INPUT = "sagas.edit_saga_input"
BULK_OPERATE = "sagas.bulk_operate"
VIEW_TRACEBACK = "sagas.view_traceback"  # tracebacks name server paths; no scope grants it
VIEW_SENSITIVE = "sagas.view_sensitive"  # reveal sensitive fields, each reveal audited
TRIAGE = "sagas.triage_problem"  # a problem's status, owner, note and ticket
MANAGE_ALERTS = "sagas.manage_alerts"  # alert rules and destinations; no scope grants it

# What each API token scope grants; a token holds nothing else.
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({READ_SAGAS}),
    "start": frozenset({START_SAGA}),
    "operate": frozenset({RETRY, RESUME, COMPENSATE, CANCEL, SKIP, EDIT_INPUT, BULK_OPERATE}),
    "triage": frozenset({TRIAGE}),
    "sensitive": frozenset({VIEW_SENSITIVE}),
}
# What every operator holds without a grant: the dashboard shows each of them every saga.
OPERATOR_PERMISSIONS = frozenset({READ_SAGAS})

# How a refusal reads where "<actor> lacks the permission <permission>" would not help.
REFUSALS = {
    READ_SAGAS: "this token may not read {what} (scope 'read')",  # only tokens lack it
    START_SAGA: "{actor} may not start sagas",
    MANAGE_ALERTS: "{actor} may not change alert rules or destinations (sagas.manage_alerts)",
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a Django user (permissions) or an API token (scopes)."""

    name: str
    user: Any = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: int | None = None  # the API token it authenticated with, if any

    @classmethod
    def of_user(cls, user: Any) -> Actor:
        return cls(name=user.get_username(), user=user)

    @classmethod
    def of_token(cls, token: ApiToken) -> Actor:
        return cls(name=f"token:{token.name}", scopes=frozenset(token.scopes), token_id=token.pk)

    def may(self, permission: str) -> bool:
        if self.user is not None:
            granted = permission in OPERATOR_PERMISSIONS or self.user.has_perm(permission)
            return bool(self.user.is_active and granted)
        return any(permission in SCOPE_PERMISSIONS.get(scope, ()) for scope in self.scopes)


def require(actor: Actor, permission: str, what: str = "sagas") -> None:
    """Return if `actor` may; else raise PermissionDenied naming what it lacks.
    `what` names what a read is of (sagas, bulk operations, circuits)."""
    if not actor.may(permission):
        refusal = REFUSALS.get(permission, "{actor} lacks the permission {permission}")
        raise PermissionDenied(refusal.format(actor=actor.name, permission=permission, what=what))


def is_staff(user: Any) -> bool:
    """An active staff user: the only user the dashboard's pages and sockets and the API's
    session admit as an operator (what each may then do is `Actor.may`)."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)
