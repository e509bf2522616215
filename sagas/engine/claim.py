"""Claiming due sagas under a lease, in one statement, and fencing later writes by epoch.

The claim is `SELECT ... FOR UPDATE SKIP LOCKED` inside a CTE feeding an `UPDATE ...
RETURNING` on PostgreSQL (procrastinate's shape); SQLite serialises writers, so a plain
`UPDATE ... RETURNING` over a sub-select is as safe there. Lease times use the database's
clock. A saga whose timed-out local attempt may still be running (`busy_until`) waits.
Every claim bumps `lease_epoch`; a writer whose epoch is no longer the row's writes
nothing (see `lock_fenced`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from sagas.models import SagaInstance
from sagas.statuses import SagaStatus

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
RETURNING s.id, s.lease_epoch
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
RETURNING id, lease_epoch
"""


def claim(owner: str, limit: int, lease_seconds: float) -> dict[uuid.UUID, int]:
    """Lease up to `limit` due sagas to `owner`; returns {saga id: lease epoch}."""
    if limit <= 0:
        return {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_CLAIM_POSTGRES, [limit, owner, lease_seconds])
        else:
            ops = connection.ops
            now = timezone.now()
            expires = ops.adapt_datetimefield_value(now + timedelta(seconds=lease_seconds))
            at = ops.adapt_datetimefield_value(now)
            cursor.execute(_CLAIM_SQLITE, [owner, expires, at, at, at, limit])
        rows = cursor.fetchall()
    return {_as_uuid(saga_id): epoch for saga_id, epoch in rows}


def lock_fenced(ids: list[uuid.UUID], owner: str) -> tuple[dict[uuid.UUID, int], datetime | None]:
    """Lock the sagas `owner` still holds; returns {id: epoch} and the database's clock.

    Call inside a transaction: the row locks keep the fence valid until commit.
    """
    rows = list(
        SagaInstance.objects.select_for_update()
        .filter(id__in=ids, lease_owner=owner)
        .order_by("id")  # the same lock order as every other locker: no deadlock cycles
        .annotate(db_now=Now())
        .values_list("id", "lease_epoch", "db_now")
    )
    now = rows[0][2] if rows else None
    return {saga_id: epoch for saga_id, epoch, _ in rows}, now


def database_now() -> datetime:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()


def _as_uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
