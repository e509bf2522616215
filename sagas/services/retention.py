"""Pruning: finished sagas past their retention (sagas/conf.py retention_seconds) are
archived whole (services/archive.py), then deleted, a small batch per transaction.

Crash safety, in three commits per batch:
1. journal the batch (PruneBatch, and a PruneItem per saga: a saga is in one open batch
   at most, the primary key says so), with the path its file will have;
2. write the file under a temporary name, fsync, rename into place (complete or absent);
3. one transaction deletes the sagas the file holds, at the version it holds, and the
   journal.
A pruner killed anywhere leaves a journaled batch that the next run finishes first: if the
file is there it is used as it is (never written twice), if not it is written from the rows,
which are still there. A saga changed since it was archived is not deleted.

Failed and active (running, compensating, stuck) sagas are never selected. The dry run
walks the same batches (`batches`) without writing anything.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from sagas import conf
from sagas.engine.leases import database_now
from sagas.messaging import signing
from sagas.models import (
    LoadedSaga,
    OutboxMessage,
    PruneBatch,
    PruneItem,
    Pruner,
    SagaInstance,
)
from sagas.services import archive
from sagas.statuses import CompensationCause, SagaStatus

log = logging.getLogger("sagas.retention")

PRUNER = "pruner"

OUTCOMES = {
    "completed": Q(status=SagaStatus.COMPLETED),
    "compensated": Q(status=SagaStatus.COMPENSATED)
    & ~Q(compensation_cause=CompensationCause.OPERATOR),
    "cancelled": Q(status=SagaStatus.COMPENSATED, compensation_cause=CompensationCause.OPERATOR),
}


@dataclass(frozen=True)
class Due:
    id: uuid.UUID
    saga_type: str
    status: str
    finished_at: datetime


@dataclass
class Summary:
    batches: int = 0
    sagas: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    changed: int = 0  # archived, but changed before the delete: kept
    recovered: int = 0  # batches a killed pruner left, finished first
    reply_keys: int = 0
    unloaded: int = 0


# Selection: the one code the dry run and the real run share


def due_filter(now: datetime) -> Q:
    """The sagas past their retention at `now`: per type with a retention of its own, and
    every other type by the "*" rule."""
    special = conf.retention_types()
    clauses = Q(pk__in=[])
    for outcome, matches in OUTCOMES.items():
        for saga_type in special:
            seconds = conf.retention_seconds(saga_type, outcome)
            if seconds is not None:
                cutoff = now - timedelta(seconds=seconds)
                clauses |= Q(saga_type=saga_type, finished_at__lt=cutoff) & matches
        seconds = conf.retention_seconds("*", outcome)
        if seconds is not None:
            cutoff = now - timedelta(seconds=seconds)
            clauses |= ~Q(saga_type__in=special) & Q(finished_at__lt=cutoff) & matches
    return clauses


def candidates(now: datetime):  # noqa: ANN201 (a QuerySet)
    return (
        SagaInstance.objects.filter(due_filter(now))
        .filter(finished_at__isnull=False)
        .exclude(Exists(LoadedSaga.objects.filter(saga_id=OuterRef("id"))))
        .exclude(Exists(PruneItem.objects.filter(saga_id=OuterRef("id"))))
    )


def batches(now: datetime, size: int | None = None) -> Iterator[list[Due]]:
    """Due sagas, oldest finished first, `size` at a time, each batch within one day (its
    archive file's directory); keyset-paged, so deleting a batch never shifts the next."""
    size = size or conf.prune_batch_size()
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        rows = candidates(now)
        if after is not None:
            rows = rows.filter(
                Q(finished_at__gt=after[0]) | Q(finished_at=after[0], id__gt=after[1])
            )
        found = [
            Due(*values)
            for values in rows.order_by("finished_at", "id").values_list(
                "id", "saga_type", "status", "finished_at"
            )[:size]
        ]
        if not found:
            return
        day = found[0].finished_at.date()
        batch = [due for due in found if due.finished_at.date() == day]
        after = (batch[-1].finished_at, batch[-1].id)
        yield batch


# Pruning


def prune(
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    size: int | None = None,
    progress: Callable[[str], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
    each: Callable[[Due], None] | None = None,
) -> Summary:
    """Archive and delete every saga due at `now` (the database's clock by default); with
    `dry_run`, only say what would go. `keep_going` is asked before each batch; `each` is
    told of every saga of a batch before the batch is pruned."""
    now = now or database_now()
    summary = Summary()
    say = progress or (lambda line: None)
    if not dry_run:
        summary.recovered = recover()
    for batch in batches(now, size):
        if keep_going is not None and not keep_going():
            say("stopped: the pruner's turn ended")
            break
        for due in batch if each else ():
            each(due)
        if dry_run:
            done, changed = len(batch), 0
            statuses = _count(due.status for due in batch)
        else:
            done, changed, statuses = archive_and_delete(batch)
        summary.batches += 1
        summary.sagas += done
        summary.changed += changed
        for status, n in statuses.items():
            summary.statuses[status] = summary.statuses.get(status, 0) + n
        verb = "would prune" if dry_run else "pruned"
        say(
            f"batch {summary.batches}: {verb} {done} sagas finished {batch[0].finished_at:%Y-%m-%d}"
            f" ({_describe(statuses)}); {summary.sagas} so far"
        )
    if not dry_run:
        summary.reply_keys = prune_reply_keys(now)
        summary.unloaded = unload_expired(now)
    return summary


def archive_and_delete(batch: list[Due]) -> tuple[int, int, dict[str, int]]:
    """Journal, archive and delete one batch; returns (deleted, changed, per status)."""
    batch_id = uuid.uuid4()
    try:
        with transaction.atomic():
            made = timezone.now()
            journal = PruneBatch.objects.create(
                id=batch_id,
                path=archive.batch_path(batch[0].finished_at, batch_id, made),
                created_at=made,
            )
            PruneItem.objects.bulk_create([PruneItem(saga_id=d.id, batch=journal) for d in batch])
    except IntegrityError:
        log.warning("another pruner holds some of these sagas; leaving the batch to it")
        return 0, 0, {}
    return finish(journal)


def finish(journal: PruneBatch) -> tuple[int, int, dict[str, int]]:
    """Archive a journaled batch (unless its file is already there), then delete, in one
    transaction, its sagas whose rows are still exactly those archived, and the journal."""
    ids = list(journal.items.values_list("saga_id", flat=True))
    if archive.exists(journal.path):
        lines = list(archive.read_stored(journal.path))
    else:
        lines = archive.records(ids)
        if lines:
            archive.write(journal.path, lines)
    archived = {str(r["saga"]["id"]): archive.shape(r) for r in lines}
    with transaction.atomic():
        # Locked as every writer of a saga locks it (a late reply's event included), so
        # nothing is added to these sagas between this check and the delete.
        rows = list(
            SagaInstance.objects.select_for_update()
            .filter(id__in=ids)
            .order_by("id")
            .values_list("id", "version", "status")
        )
        now = archive.shapes([saga_id for saga_id, _, _ in rows])
        gone = [
            (saga_id, status)
            for saga_id, version, status in rows
            if str(saga_id) in archived
            and archived[str(saga_id)] == (version, now.get(saga_id, frozenset()))
        ]
        changed = sum(1 for saga_id, _, _ in rows if str(saga_id) in archived) - len(gone)
        gone_ids = [saga_id for saga_id, _ in gone]
        for model in archive.RELATED.values():
            model.objects.filter(saga_id__in=gone_ids).delete()
        SagaInstance.objects.filter(id__in=gone_ids).delete()
        statuses = _count(status for _, status in gone)
        _add_to_ledger(statuses)
        journal.delete()
    return len(gone), changed, statuses


def recover() -> int:
    """Finish the batches a killed pruner left; returns how many."""
    left = list(PruneBatch.objects.order_by("created_at"))
    for journal in left:
        log.info("finishing prune batch %s left by a stopped pruner", journal.id)
        archive.discard_partial(journal.path)
        finish(journal)
    return len(left)


def prune_reply_keys(now: datetime, size: int = 1000) -> int:
    """Delete applied replies older than the replay-key retention: by then a replay is
    refused by its signature's timestamp, and one for a live attempt by the state machine."""
    keep = max(conf.replay_keys_seconds(), 2.0 * signing.WINDOW_SECONDS)
    cutoff = now - timedelta(seconds=keep)
    rows = OutboxMessage.objects.filter(
        kind=OutboxMessage.Kind.REPLY,
        status=OutboxMessage.Status.SENT,
        saga__isnull=True,
        created_at__lt=cutoff,
    )
    deleted = 0
    while ids := list(rows.order_by("id").values_list("id", flat=True)[:size]):
        deleted += OutboxMessage.objects.filter(id__in=ids).delete()[0]
    return deleted


def unload_expired(now: datetime, size: int = 200) -> int:
    """Delete sagas loaded back from an archive once their time is up: they are in the
    archive already, so they are not archived again."""
    cutoff = now - timedelta(seconds=conf.loaded_keep_seconds())
    rows = LoadedSaga.objects.filter(loaded_at__lt=cutoff)
    deleted = 0
    while ids := list(rows.values_list("saga_id", flat=True)[:size]):
        with transaction.atomic():
            for model in archive.RELATED.values():
                model.objects.filter(saga_id__in=ids).delete()
            LoadedSaga.objects.filter(saga_id__in=ids).delete()
            deleted += SagaInstance.objects.filter(id__in=ids).delete()[0] and len(ids)
    return deleted


def _add_to_ledger(statuses: dict[str, int]) -> None:
    if not statuses:
        return
    Pruner.objects.bulk_create([Pruner(name=PRUNER)], ignore_conflicts=True)
    pruner = Pruner.objects.select_for_update().get(name=PRUNER)
    for status, n in statuses.items():
        pruner.pruned[status] = pruner.pruned.get(status, 0) + n
    pruner.save(update_fields=["pruned"])


def pruned_totals() -> dict[str, int]:
    """How many sagas were ever pruned, per status (the overview subtracts them)."""
    pruner = Pruner.objects.filter(name=PRUNER).first()
    return dict(pruner.pruned) if pruner else {}


def _count(statuses: Iterator[str] | list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def _describe(statuses: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "none"


# The pruner's turn: one pruner among all workers, a run every prune_interval


def take_turn(owner: str, seconds: float, interval: float) -> bool:
    """Whether `owner` may prune now: the lease is its own or lapsed, and the last run
    ended at least `interval` seconds ago."""
    Pruner.objects.bulk_create([Pruner(name=PRUNER)], ignore_conflicts=True)
    now = database_now()
    free = Q(owner=owner) | Q(expires_at__isnull=True) | Q(expires_at__lte=now)
    due = Q(ran_at__isnull=True) | Q(ran_at__lte=now - timedelta(seconds=interval))
    return bool(
        Pruner.objects.filter(free & due, name=PRUNER).update(
            owner=owner, expires_at=now + timedelta(seconds=seconds)
        )
    )


def renew_turn(owner: str, seconds: float) -> bool:
    now = database_now()
    return bool(
        Pruner.objects.filter(name=PRUNER, owner=owner).update(
            expires_at=now + timedelta(seconds=seconds)
        )
    )


def end_turn(owner: str, ran: bool = True) -> None:
    changes: dict = {"owner": "", "expires_at": None}
    if ran:
        changes["ran_at"] = database_now()
    Pruner.objects.filter(name=PRUNER, owner=owner).update(**changes)
