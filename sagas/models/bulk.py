"""Bulk operations: one action on many sagas, tracked saga by saga."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class BulkOperation(models.Model):
    """An operator's action on every saga a filter (or a selection) matched when it began."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    action = models.CharField(max_length=40)
    reason = models.TextField(blank=True, default="")
    selection = models.JSONField(default=dict)  # the filter or the ids, as the operator gave it
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Who started it: a user or an API token. If that one is deleted (or the token revoked)
    # before the workers finish, the remaining items fail instead of running with no owner.
    token = models.ForeignKey(
        "sagas.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=150)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "bulk operation"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} on {self.total} sagas by {self.actor}"


class BulkItem(models.Model):
    """One saga of a bulk operation, with the version it had when the operation began."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, related_name="items")
    saga = models.ForeignKey("sagas.SagaInstance", on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    message = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "bulk operation item"
        constraints = [
            models.UniqueConstraint(fields=["operation", "saga"], name="bulk_item_unique")
        ]
        indexes = [
            models.Index(fields=["operation", "outcome"], name="bulk_item_outcome_idx"),
            models.Index(
                fields=["id"], condition=Q(outcome="pending"), name="bulk_item_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.saga_id}: {self.outcome}"
