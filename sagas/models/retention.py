"""Retention's tables: the pruner's lease, the journal of a prune batch, loaded archives.

A batch is journaled (PruneBatch, one PruneItem per saga) before its archive file is
written and is removed in the transaction that deletes its sagas, so a pruner killed at any
instant leaves either nothing or a batch the next pruner finishes (sagas/services/
retention.py). A saga can be in one open batch only (PruneItem's primary key).
"""

from __future__ import annotations

import uuid

from django.db import models


class Pruner(models.Model):
    """The one row whose lease says which worker prunes now, when a run last ended, and how
    many sagas were pruned per status (the overview subtracts them from its baseline)."""

    name = models.CharField(max_length=20, primary_key=True)
    owner = models.CharField(max_length=120, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    ran_at = models.DateTimeField(null=True, blank=True)
    pruned = models.JSONField(default=dict)

    class Meta:
        verbose_name = "pruner"


class PruneBatch(models.Model):
    """Sagas being archived to `path` (relative to SAGASCOPE_ARCHIVE_DIR) then deleted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    path = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "prune batch"


class PruneItem(models.Model):
    saga_id = models.UUIDField(primary_key=True)
    batch = models.ForeignKey(PruneBatch, on_delete=models.CASCADE, related_name="items")

    class Meta:
        verbose_name = "prune batch item"


class LoadedSaga(models.Model):
    """A saga loaded back from an archive for an investigation: read-only (the action
    services refuse it, and it is terminal so no worker claims it), deleted again after
    SAGASCOPE_LOADED_KEEP_DAYS without being archived twice."""

    saga = models.OneToOneField(
        "sagas.SagaInstance", primary_key=True, on_delete=models.CASCADE, related_name="loaded"
    )
    source = models.CharField(max_length=300)
    loaded_at = models.DateTimeField()

    class Meta:
        verbose_name = "saga loaded from an archive"
