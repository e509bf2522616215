"""Every query a worker makes about its leases: claiming due sagas in one statement,
fencing later writes by epoch, renewing and giving leases back, and the wait of sagas
whose timed-out local attempts may still run (`busy_until`). The worker speaks to the
database about leases through here only, as procrastinate's worker does through its manager.

The claim is `SELECT ... FOR UPDATE SKIP LOCKED` inside a CTE feeding an `UPDATE ...
RETURNING` on PostgreSQL (procrastinate's shape); SQLite serialises writers, so a plain
`UPDATE ... RETURNING` over a sub-select is as safe there. Lease times use the database's
clock. A saga whose timed-out local attempt may still be running (`busy_until`) waits.
Every claim bumps `lease_epoch`; a writer whose epoch is no longer the row's writes
nothing (see `lock_fenced`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Min
from django.db.models.functions import Coalesce, Greatest, Now
from django.utils import timezone

from sagas.models import SagaInstance, StepAttempt
from sagas.statuses import ACTIVE_STATUSES, SagaStatus

from .sql import hot_cursor, load_rows

_ROW_FIELDS = SagaInstance._meta.concrete_fields
_ACTIVE = f"'{SagaStatus.RUNNING.value}', '{SagaStatus.COMPENSATING.value}'"

_CLAIM_POSTGRES = f"""
WITH due AS (
    SELECT id FROM sagas_sagainstance
     WHERE status IN ({_ACTIVE}) AND next_run_at <= now()
       AND (lease_expires_at IS NULL OR lease_expires_at <= now())
       AND (busy_until IS NULL OR busy_until <= now())
     ORDER BY next_run_at
     LIMIT %s
     FOR UPDATE SKIP LOCKED
)
UPDATE sagas_sagainstance AS s
   SET lease_owner = %s,
       lease_epoch = s.lease_epoch + 1,
       lease_expires_at = now() + make_interval(secs => %s)
  FROM due
 WHERE s.id = due.id AND s.status IN ({_ACTIVE})
RETURNING {{returning}}
"""

_CLAIM_SQLITE = f"""
UPDATE sagas_sagainstance
   SET lease_owner = %s, lease_epoch = lease_epoch + 1, lease_expires_at = %s
 WHERE id IN (
        SELECT id FROM sagas_sagainstance
         WHERE status IN ({_ACTIVE}) AND next_run_at <= %s
           AND (lease_expires_at IS NULL OR lease_expires_at <= %s)
           AND (busy_until IS NULL OR busy_until <= %s)
         ORDER BY next_run_at
         LIMIT %s)
   AND status IN ({_ACTIVE})
RETURNING {{returning}}
"""


def claim(owner: str, limit: int, lease_seconds: float) -> dict[uuid.UUID, int]:
    """Lease up to `limit` due sagas to `owner`; returns {saga id: lease epoch}."""
    return {row.id: row.lease_epoch for row in claim_rows(owner, limit, lease_seconds)}


def claim_rows(owner: str, limit: int, lease_seconds: float) -> list[SagaInstance]:
    """Lease up to `limit` due sagas to `owner`; returns their rows as the claim left
    them (`lease_epoch` is the new fence), read by the claim itself: no second query."""
    if limit <= 0:
        return []
    columns = ", ".join(f"s.{connection.ops.quote_name(f.column)}" for f in _ROW_FIELDS)
    if connection.vendor == "postgresql":
        sql = _CLAIM_POSTGRES.format(returning=columns)
        params: list[Any] = [limit, owner, lease_seconds]
    else:
        ops = connection.ops
        now = timezone.now()
        expires = ops.adapt_datetimefield_value(now + timedelta(seconds=lease_seconds))
        at = ops.adapt_datetimefield_value(now)
        sql = _CLAIM_SQLITE.format(returning=columns.replace("s.", ""))
        params = [owner, expires, at, at, at, limit]
    if connection.vendor != "postgresql":
        return list(SagaInstance.objects.raw(sql, params))
    with hot_cursor(connection) as cursor:  # prepared: every idle worker runs it on each wake
        cursor.execute(sql, params)
        return load_rows(SagaInstance, cursor)


_LOCK_FENCED_POSTGRES = """
SELECT id, lease_epoch, STATEMENT_TIMESTAMP() FROM sagas_sagainstance
 WHERE id = ANY(%s) AND lease_owner = %s
 ORDER BY id
   FOR UPDATE
"""


def lock_fenced(ids: list[uuid.UUID], owner: str) -> tuple[dict[uuid.UUID, int], datetime | None]:
    """Lock the sagas `owner` still holds; returns {id: epoch} and the database's clock.

    Call inside a transaction: the row locks keep the fence valid until commit. Ordered by
    id, the lock order of every other locker: no deadlock cycles. Written out for
    PostgreSQL because it starts every commit of the hot path."""
    if connection.vendor == "postgresql":
        with hot_cursor(connection) as cursor:
            cursor.execute(_LOCK_FENCED_POSTGRES, [list(ids), owner])
            rows = cursor.fetchall()
    else:
        rows = list(
            SagaInstance.objects.select_for_update()
            .filter(id__in=ids, lease_owner=owner)
            .order_by("id")
            .annotate(db_now=Now())
            .values_list("id", "lease_epoch", "db_now")
        )
    now = rows[0][2] if rows else None
    return {_as_uuid(saga_id): epoch for saga_id, epoch, _ in rows}, now


def database_now() -> datetime:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()


def _as_uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def running_attempts(rows: Iterable[SagaInstance]) -> dict[uuid.UUID, StepAttempt]:
    """The attempt each of these in-flight sagas last started, where it was recorded."""
    found: dict[uuid.UUID, StepAttempt] = {}
    for row in rows:
        attempt = StepAttempt.objects.filter(
            saga_id=row.id, step_index=row.current_step, phase=row.phase, attempt=row.attempt
        ).first()
        if attempt is not None:
            found[row.id] = attempt
    return found


def renew(ids: list[uuid.UUID], owner: str, seconds: float) -> None:
    """Extend the leases `owner` still holds on these sagas."""
    with transaction.atomic():
        _unlocked(SagaInstance.objects.filter(id__in=ids, lease_owner=owner)).update(
            lease_expires_at=Now() + timedelta(seconds=seconds)
        )


def release_all(owner: str) -> None:
    """Give back every lease `owner` holds (after a rollback left its memory behind)."""
    SagaInstance.objects.filter(lease_owner=owner).update(lease_owner=None, lease_expires_at=None)


def put_off(saga_id: uuid.UUID, owner: str, seconds: float) -> None:
    """Give back a saga `owner` cannot advance, due again only after `seconds`."""
    SagaInstance.objects.filter(id=saga_id, lease_owner=owner).update(
        lease_owner=None, lease_expires_at=None, next_run_at=Now() + timedelta(seconds=seconds)
    )


def next_due() -> datetime | None:
    """When the next active saga becomes claimable (due, its lease and wait over)."""
    return SagaInstance.objects.filter(
        status__in=ACTIVE_STATUSES, next_run_at__isnull=False
    ).aggregate(
        at=Min(
            Greatest(
                "next_run_at",
                Coalesce("lease_expires_at", "next_run_at"),
                Coalesce("busy_until", "next_run_at"),
            )
        )
    )["at"]


_UNTIL_DUE_POSTGRES = f"""
SELECT EXTRACT(EPOCH FROM MIN(GREATEST(next_run_at, COALESCE(lease_expires_at, next_run_at),
                                       COALESCE(busy_until, next_run_at))) - clock_timestamp())
  FROM sagas_sagainstance
 WHERE status IN ({_ACTIVE}) AND next_run_at IS NOT NULL
"""


def seconds_until_due() -> float | None:
    """Seconds until the next active saga becomes claimable (negative: it is already), by
    the database's clock; None when no saga waits. What an idle worker asks before it
    sleeps: one prepared statement on PostgreSQL."""
    if connection.vendor != "postgresql":
        due = next_due()
        return None if due is None else (due - database_now()).total_seconds()
    with hot_cursor(connection) as cursor:
        cursor.execute(_UNTIL_DUE_POSTGRES)
        (seconds,) = cursor.fetchone()
    return None if seconds is None else float(seconds)


def renew_busy(ids: list[uuid.UUID], seconds: float) -> None:
    """Keep these sagas waiting while their timed-out attempts' threads still run."""
    if ids:
        SagaInstance.objects.filter(id__in=ids, busy_until__isnull=False).update(
            busy_until=Now() + timedelta(seconds=seconds)
        )


def clear_busy(ids: list[uuid.UUID]) -> None:
    """Their timed-out threads ended (or were given up on): claimable again."""
    SagaInstance.objects.filter(id__in=ids).update(busy_until=None)


def _unlocked(qs: Any) -> Any:
    """The rows of `qs` no other transaction holds, in id order: the heartbeat's UPDATE
    then never waits on a commit (its own worker's included) that locks in id order, which
    deadlocked; a skipped row is renewed by the next beat, or by that commit."""
    return SagaInstance.objects.filter(
        id__in=qs.order_by("id").select_for_update(skip_locked=True).values("id")
    )
