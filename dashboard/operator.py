"""What an operator may do to a saga now, and what operators did to it: the JSON the detail
page's actions and audit sections draw, at load and after every change of the saga.

Which actions a state allows, what each will do (`effect_of`) and who may take which
(`permitted`) come from the service layer; this module only labels the buttons.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from sagas import serializers
from sagas.models import OperatorAction, SagaInstance
from sagas.services import bulk
from sagas.services.actions import ACTIONS, MAX_REASON, effect_of, permitted
from sagas.services.actors import Actor

from . import conf

LABELS = {
    "retry": "Retry",
    "resume": "Resume",
    "compensate": "Compensate now",
    "cancel": "Cancel",
    "skip": "Skip step",
    "retry_with_input": "Retry with edited input",
}
AUDIT_ROWS = 50


def label(action: str) -> str:
    return LABELS.get(action, action.replace("_", " ").capitalize())


def offered(saga: SagaInstance, user: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The actions the saga's state allows and the user may take, each with what it will do
    in words (so the confirmation says exactly what the service layer will then do); and
    the ones the user may take but the state does not allow, each with why not."""
    allowed, unavailable = [], []
    for name in permitted(Actor.of_user(user)):
        effect = effect_of(saga, name)
        spec = ACTIONS[name]
        if not effect.allowed:
            unavailable.append({"name": name, "label": label(name), "why": effect.text})
            continue
        allowed.append(
            {
                "name": name,
                "label": label(name),
                "summary": spec.summary,
                "effect": effect.text,
                "needs_reason": spec.needs_reason,
                "edits_input": spec.edits_input,
                "url": reverse("saga-action", args=[saga.id, name]),
            }
        )
    return allowed, unavailable


def audit_entry(record: OperatorAction) -> dict[str, Any]:
    return {
        **serializers.operator_action(record),
        **({} if conf.traces_exported() else {"trace_url": None}),  # no dead Jaeger link
        "label": label(record.action),
        "input_diff": (record.detail or {}).get("input_diff"),
    }


def panel(saga: SagaInstance, user: Any) -> dict[str, Any]:
    """The operator's view of one saga: its version and input (what the actions are offered
    against), the actions, and the audit trail, newest first."""
    audit = OperatorAction.objects.filter(saga=saga).order_by("-created_at", "-id")
    actions, unavailable = offered(saga, user)
    return {
        "saga": str(saga.id),
        "version": saga.version,
        "status": saga.status,
        "input": saga.input,
        "may_act": bool(permitted(Actor.of_user(user))),
        "actions": actions,
        "unavailable": unavailable,
        "audit": [audit_entry(r) for r in audit[:AUDIT_ROWS]],
        "max_reason": MAX_REASON,
        "urls": {
            "refresh": reverse("saga-operator", args=[saga.id]),
            "diff": reverse("saga-input-diff", args=[saga.id]),
        },
    }


def bulk_actions(user: Any) -> list[dict[str, Any]]:
    """The actions this user may run on many sagas (see `bulk.permitted`)."""
    return [
        {"name": name, "label": label(name), "needs_reason": ACTIONS[name].needs_reason}
        for name in bulk.permitted(Actor.of_user(user))
    ]
