"""SagaEvent: the append-only history every timeline, live feed and replay reads from."""

from __future__ import annotations

from django.db import models

from sagas.statuses import EventType


class SagaEvent(models.Model):
    # bigserial: ids increase in insert order, which the live feed's replay relies on.
    id = models.BigAutoField(primary_key=True)
    # NULL only for a reply naming a saga that does not exist (kept, so nothing is lost).
    saga = models.ForeignKey(
        "sagas.SagaInstance",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
    )
    type = models.CharField(max_length=40, choices=EventType.choices)
    step = models.CharField(max_length=100, blank=True, default="")
    phase = models.CharField(max_length=20, blank=True, default="")
    attempt = models.PositiveIntegerField(null=True, blank=True)
    # The saga's status and version right after this event, so a timeline needs no join.
    status = models.CharField(max_length=20, blank=True, default="")
    version = models.PositiveIntegerField(default=0)
    payload = models.JSONField(default=dict)
    actor = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "saga event"
        ordering = ["id"]
        indexes = [models.Index(fields=["saga", "id"], name="event_saga_idx")]

    def __str__(self) -> str:
        return f"#{self.id} {self.type} {self.step}".strip()
