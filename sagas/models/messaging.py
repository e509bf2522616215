"""The transactional outbox and the idempotent consumer's inbox."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    """A message decided inside a transaction and published after it commits."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead letter"

    class Kind(models.TextChoices):
        COMMAND = "command", "Command to a participant"
        REPLY = "reply", "Reply to the orchestrator"

    id = models.BigAutoField(primary_key=True)
    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    saga = models.ForeignKey(
        "sagas.SagaInstance",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outbox",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    destination = models.CharField(max_length=200)
    headers = models.JSONField(default=dict)
    body = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField()
    # A command past its deadline is dead-lettered undelivered: its attempt timed out.
    deadline = models.DateTimeField(null=True, blank=True)
    # Set while a relay publishes it: hidden from other claimers, and not withdrawable.
    leased_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # A reply's authenticated sender: the participant whose signature it bore (HTTP) or
    # that claimed the command (database). Only that participant may answer the attempt.
    sender = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        verbose_name = "outbox message"
        indexes = [
            models.Index(
                fields=["kind", "destination", "id"],
                condition=Q(status="pending"),
                name="outbox_pending_idx",
            ),
            models.Index(
                fields=["saga", "destination", "id"],
                condition=Q(status="pending"),
                name="outbox_pending_saga_idx",
            ),
            # /metrics counts dead letters per destination at every scrape.
            models.Index(
                fields=["destination"], condition=Q(status="dead"), name="outbox_dead_idx"
            ),
            # The dead letters page: newest first, a page at a time (keyset on id).
            models.Index(fields=["id"], condition=Q(status="dead"), name="outbox_dead_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.message_id} -> {self.destination} ({self.status})"


class ProcessedMessage(models.Model):
    """A consumer's record of an idempotency key it handled, with the result it returned."""

    consumer = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=200)
    # The reply the first delivery produced; every duplicate gets it again.
    result = models.JSONField(null=True, blank=True)
    duplicates = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "processed message"
        constraints = [
            models.UniqueConstraint(
                fields=["consumer", "idempotency_key"], name="processed_message_unique"
            )
        ]
