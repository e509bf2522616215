"""What an operator may do to a saga now, and what operators did to it: the JSON the detail
page's actions and audit sections draw, at load and after every change of the saga.

Which actions a state allows, what each will do (`effect_of`) and who may take which
(`permitted`) come from the service layer; this module only labels the buttons.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from sagas import sensitive, serializers
from sagas.models import OperatorAction, SagaInstance
from sagas.services import bulk, restart
from sagas.services.actions import ACTIONS, MAX_REASON, effect_of, permitted
from sagas.services.actors import Actor
from sagas.statuses import SagaStatus

from . import conf

LABELS = {
    "retry": "Retry",
    "resume": "Resume",
    "compensate": "Compensate now",
    "cancel": "Cancel",
    "skip": "Skip step",
    "retry_with_input": "Retry with edited input",
    "restart": "Start a new saga with edited input",
    "reveal_sensitive": "Revealed sensitive fields",
}
# What "finish compensating" means for a saga the operator cannot retry now.
FINISH = {
    SagaStatus.COMPENSATING: "nothing to press: this saga goes on undoing its steps by itself",
    SagaStatus.COMPENSATED: "nothing left: this saga is compensated already, and an edited "
    "input would change nothing in it",
}
AUDIT_ROWS = 50


def label(action: str) -> str:
    return LABELS.get(action, action.replace("_", " ").capitalize())


def offered(saga: SagaInstance, user: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The actions the saga's state allows and the user may take, each with what it will do
    in words (so the confirmation says exactly what the service layer will then do); and
    the ones the user may take but the state does not allow, each with why not."""
    allowed, unavailable = [], []
    actor = Actor.of_user(user)
    for name in permitted(actor):
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
                "diff_url": reverse("saga-input-diff", args=[saga.id]),
            }
        )
    if restart.may(actor):
        again = restart.effect(saga)
        if again.allowed:
            allowed.append(restart_action(saga, again.text))
        else:
            unavailable.append({"name": "restart", "label": label("restart"), "why": again.text})
    return allowed, unavailable


def restart_action(saga: SagaInstance, effect: str) -> dict[str, Any]:
    """Starting again, offered with "retry with edited input" as the other choice of one
    dialog: `finish` says what finishing the compensation means when that cannot be
    pressed now."""
    return {
        "name": "restart",
        "label": label("restart"),
        "summary": restart.SUMMARY,
        "effect": effect,
        "needs_reason": True,
        "edits_input": True,
        "new_saga": True,
        "saga_type": saga.saga_type,
        "finish": FINISH.get(SagaStatus(saga.status), ""),
        "url": reverse("saga-restart", args=[saga.id]),
        # The same input again is fine here: a new saga starts from it.
        "diff_url": reverse("saga-input-diff", args=[saga.id]) + "?for=restart",
    }


def links(saga: SagaInstance) -> dict[str, Any]:
    """The sagas this one was started again from and as, with their pages."""
    found = restart.links(saga)

    def page(saga_id: str | None) -> dict[str, str] | None:
        return {"id": saga_id, "url": reverse("saga-detail", args=[saga_id])} if saga_id else None

    return {
        "restarted_from": page(found["restarted_from"]),
        "restarted_as": [page(i) for i in found["restarted_as"] if i],
    }


def audit_entry(record: OperatorAction, saga_type: str) -> dict[str, Any]:
    """One audit row; an edited input's diff with its sensitive values masked."""
    detail = sensitive.mask_detail(saga_type, record.detail or {})
    return {
        **serializers.operator_action(record),
        **({} if conf.traces_exported() else {"trace_url": None}),  # no dead Jaeger link
        "label": label(record.action),
        "input_diff": detail.get("input_diff"),
        "new_saga": detail.get("new_saga"),
    }


def panel(saga: SagaInstance, user: Any, *, reveal: bool = False) -> dict[str, Any]:
    """The operator's view of one saga: its version and input (what the actions are offered
    against; sensitive fields masked unless `reveal`: an edit that keeps a mask keeps the
    stored value), the actions, and the audit trail, newest first."""
    audit = OperatorAction.objects.filter(saga=saga).order_by("-created_at", "-id")
    actions, unavailable = offered(saga, user)
    return {
        "saga": str(saga.id),
        "version": saga.version,
        "status": saga.status,
        "input": serializers.saga_input(saga, reveal=reveal),
        "may_act": bool(permitted(Actor.of_user(user))),
        "actions": actions,
        "unavailable": unavailable,
        "audit": [audit_entry(r, saga.saga_type) for r in audit[:AUDIT_ROWS]],
        "links": links(saga),
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
