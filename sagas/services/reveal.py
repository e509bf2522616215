"""Revealing a saga's sensitive fields: only to actors with VIEW_SENSITIVE, and each reveal
recorded as an operator action (who, when, which saga, which fields, from where).

Every face shows saga data masked (sagas/sensitive.py) unless it asked `reveal` here first
and was allowed; the answer is then the saga's real values, for that one response.
"""

from __future__ import annotations

from django.db import transaction

from sagas import sensitive
from sagas.models import OperatorAction, SagaInstance

from .actors import VIEW_SENSITIVE, Actor, require

ACTION = "reveal_sensitive"


def may(actor: Actor) -> bool:
    return actor.may(VIEW_SENSITIVE)


def has_sensitive(saga: SagaInstance) -> bool:
    """Whether the saga's type marks any field sensitive (else there is nothing to reveal)."""
    return bool(sensitive.paths_of(saga.saga_type))


def reveal(saga: SagaInstance, actor: Actor, via: str) -> bool:
    """Record that `actor` is shown `saga`'s sensitive fields (`via`: "dashboard", "api",
    "history"); PermissionDenied without VIEW_SENSITIVE. False when the saga's type marks
    nothing sensitive: nothing is hidden, so nothing is recorded."""
    require(actor, VIEW_SENSITIVE)
    paths = sensitive.paths_of(saga.saga_type)
    if not paths:
        return False
    with transaction.atomic():
        OperatorAction.objects.create(
            saga=saga,
            user=actor.user,
            actor=actor.name,
            action=ACTION,
            step=saga.current_step_name or "",
            status_before=saga.status,
            status_after=saga.status,
            version_before=saga.version,
            version_after=saga.version,
            detail={"summary": "sensitive fields shown", "fields": paths.names(), "via": via},
        )
    return True
