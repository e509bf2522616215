"""One action on many sagas: a preview first, then a tracked operation, saga by saga.

The selection is a filter (applied whole, not page by page) or a list of ids. `preview`
counts what would happen. `start` snapshots every matching saga with its version as a
`BulkItem`; workers then apply the action item by item through `perform`, the same path
as a single action, so each saga gets its own audit record, its own version check, and a
saga that changed since the snapshot is skipped rather than acted on blindly.

Items are carried out with the powers their starter has now: if that user or token is gone
(deleted, revoked, expired) or lost the bulk permission, the remaining items fail.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from sagas.engine.wakeup import BULK, notify_due
from sagas.exceptions import SagaError
from sagas.models import ApiToken, BulkItem, BulkOperation, SagaInstance
from sagas.transient import is_transient

from .actions import ACTIONS, ActionSpec, checked_reason, effect_of, perform, spec_for
from .actors import BULK_OPERATE, Actor, require
from .queries import SagaFilter
from .saga_query import bounded

log = logging.getLogger(__name__)

MAX_SAGAS = 20_000
WORK_BATCH = 20


class TooManySagas(SagaError):
    """The selection matches more sagas than one bulk operation takes; narrow the filter."""


@dataclass
class Preview:
    action: str
    total: int
    by_status: dict[str, int]
    applicable: int
    skipped: list[dict[str, Any]] = field(default_factory=list)  # reason, count, examples

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "total": self.total,
            "by_status": self.by_status,
            "applicable": self.applicable,
            "skipped": self.skipped,
        }


def select(flt: SagaFilter | None = None, ids: list[str] | None = None) -> QuerySet:
    """Every saga the filter matches (all pages), or exactly the given ids."""
    if ids is not None:
        return SagaInstance.objects.filter(id__in=[uuid.UUID(str(i)) for i in ids])
    return (flt or SagaFilter()).apply(SagaInstance.objects.all())


def preview(action: str, sagas: QuerySet, actor: Actor) -> Preview:
    authorize(actor, action)
    with bounded():  # a selection by query may scan: stop it rather than hold the database
        rows = list(sagas.order_by("created_at", "id")[: MAX_SAGAS + 1])
    if len(rows) > MAX_SAGAS:
        raise TooManySagas(f"the selection matches more than {MAX_SAGAS} sagas; narrow it")
    now = timezone.now()
    skipped: dict[str, list[str]] = {}
    applicable = 0
    for row in rows:
        effect = effect_of(row, action, now)
        if effect.allowed:
            applicable += 1
        else:
            skipped.setdefault(effect.text, []).append(str(row.id))
    return Preview(
        action=action,
        total=len(rows),
        by_status=dict(Counter(row.status for row in rows)),
        applicable=applicable,
        skipped=[
            {"reason": why, "count": len(ids), "examples": ids[:5]}
            for why, ids in sorted(skipped.items(), key=lambda kv: -len(kv[1]))
        ],
    )


def start(
    action: str,
    sagas: QuerySet,
    actor: Actor,
    reason: str = "",
    selection: dict[str, Any] | None = None,
) -> BulkOperation:
    """Snapshot the selection and queue the operation; workers carry it out."""
    authorize(actor, action)
    if actor.user is None and actor.token_id is None:
        # Workers act later as this owner, re-checked then; an owner they cannot find
        # again would fail every item.
        raise PermissionDenied(
            f"{actor.name} is neither a user nor an API token; a bulk operation needs one"
        )
    reason = checked_reason(action, reason)
    with transaction.atomic():
        with bounded():
            rows = list(
                sagas.order_by("created_at", "id").values_list("id", "version")[: MAX_SAGAS + 1]
            )
        if len(rows) > MAX_SAGAS:
            raise TooManySagas(f"the selection matches more than {MAX_SAGAS} sagas; narrow it")
        operation = BulkOperation.objects.create(
            action=action,
            reason=reason,
            selection=selection or {},
            user=actor.user,
            token_id=actor.token_id,
            actor=actor.name,
            total=len(rows),
        )
        BulkItem.objects.bulk_create(
            [
                BulkItem(operation=operation, saga_id=saga_id, version=version)
                for saga_id, version in rows
            ],
            batch_size=2000,
        )
        if rows:
            notify_due(BULK)
        else:
            operation.status = BulkOperation.Status.DONE
            operation.finished_at = timezone.now()
            operation.save(update_fields=["status", "finished_at"])
    return operation


def pending_exist() -> bool:
    return BulkItem.objects.filter(outcome=BulkItem.Outcome.PENDING).exists()


def work(limit: int = WORK_BATCH) -> int:
    """Carry out up to `limit` pending items (any operation); returns how many."""
    with transaction.atomic():
        items = list(
            BulkItem.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(outcome=BulkItem.Outcome.PENDING)
            .select_related("operation")
            .order_by("id")[:limit]
        )
        owners: dict[int, Actor | str] = {}
        for item in items:
            if item.operation_id not in owners:
                owners[item.operation_id] = _owner_of(item.operation)
            _carry_out(item, owners[item.operation_id])
        for operation_id in {item.operation_id for item in items}:
            _finish_if_done(operation_id)
    return len(items)


def progress(operation: BulkOperation) -> dict[str, Any]:
    counts = dict(operation.items.values_list("outcome").annotate(n=Count("id")))
    done = operation.total - counts.get(BulkItem.Outcome.PENDING, 0)
    return {
        "id": operation.id,
        "action": operation.action,
        "status": operation.status,
        "total": operation.total,
        "done": done,
        "outcomes": {o: counts.get(o, 0) for o in BulkItem.Outcome.values},
        "reason": operation.reason,
        "actor": operation.actor,
        "created_at": operation.created_at,
        "finished_at": operation.finished_at,
    }


def _carry_out(item: BulkItem, owner: Actor | str) -> None:
    """Apply the operation's action to one saga as `owner`, or fail it with `owner` as why."""
    operation = item.operation
    if isinstance(owner, str):
        item.outcome, item.message = BulkItem.Outcome.FAILED, owner
    else:
        try:
            with transaction.atomic():
                perform(
                    item.saga_id,
                    operation.action,
                    actor=owner,
                    version=item.version,
                    reason=operation.reason,
                )
            item.outcome, item.message = BulkItem.Outcome.APPLIED, ""
        except SagaError as exc:
            item.outcome, item.message = BulkItem.Outcome.SKIPPED, str(exc)
        except PermissionDenied as exc:
            item.outcome, item.message = BulkItem.Outcome.FAILED, str(exc) or "permission denied"
        except Exception as exc:  # one saga this code cannot act on fails alone
            if is_transient(exc):
                raise
            log.exception("bulk operation %s: saga %s failed", operation.id, item.saga_id)
            item.outcome = BulkItem.Outcome.FAILED
            item.message = f"could not be applied: {type(exc).__name__}: {exc}"[:2000]
    item.finished_at = timezone.now()
    item.save(update_fields=["outcome", "message", "finished_at"])


def _owner_of(operation: BulkOperation) -> Actor | str:
    """Who carries out the operation now: its starter as they are today, or why nobody may.

    Never anyone more powerful: an operation whose user or token is gone has no owner left.
    """
    if operation.token_id is not None:
        token = ApiToken.objects.filter(pk=operation.token_id).first()
        if token is None:  # deleted since this batch began: SET_NULL not yet visible
            return f"the token {operation.actor.removeprefix('token:')!r} was deleted"
        state = token.state()
        if state != "live":
            return f"the token {token.name!r} {'was revoked' if state == 'revoked' else 'expired'}"
        actor = Actor(name=operation.actor, scopes=frozenset(token.scopes), token_id=token.pk)
    elif operation.user_id is not None:
        user = get_user_model().objects.filter(pk=operation.user_id).first()
        if user is None:
            return "the operator no longer exists"
        if not user.is_active:
            return f"the operator {operation.actor!r} was deactivated"
        actor = Actor(name=operation.actor, user=user)
    elif operation.actor.startswith("token:"):  # usernames cannot hold ':'
        return f"the token {operation.actor.removeprefix('token:')!r} was deleted"
    else:
        return "the operator no longer exists"
    if not actor.may(BULK_OPERATE):
        return f"{actor.name} no longer has the permission {BULK_OPERATE}"
    return actor


def _finish_if_done(operation_id: int) -> None:
    if not BulkItem.objects.filter(
        operation_id=operation_id, outcome=BulkItem.Outcome.PENDING
    ).exists():
        BulkOperation.objects.filter(id=operation_id, status=BulkOperation.Status.RUNNING).update(
            status=BulkOperation.Status.DONE, finished_at=timezone.now()
        )


def authorize(actor: Actor, action: str) -> ActionSpec:
    """The action's spec, if `actor` may run it on many sagas: it needs the bulk permission
    and the action's own, and it may not edit input; else PermissionDenied or SagaError."""
    spec = spec_for(action)
    require(actor, BULK_OPERATE)
    require(actor, spec.permission)
    if spec.edits_input:
        raise SagaError("retry_with_input edits one saga's input; it is not a bulk action")
    return spec


def permitted(actor: Actor) -> list[str]:
    """The actions `actor` may run on many sagas (none without the bulk permission)."""
    if not actor.may(BULK_OPERATE):
        return []
    return [
        name
        for name, spec in ACTIONS.items()
        if not spec.edits_input and actor.may(spec.permission)
    ]
