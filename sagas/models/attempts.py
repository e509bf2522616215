"""StepAttempt: one attempt of one step, forward or compensation."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from sagas.statuses import AttemptStatus, Phase


class StepAttempt(models.Model):
    saga = models.ForeignKey(
        "sagas.SagaInstance", on_delete=models.CASCADE, related_name="attempts"
    )
    step_name = models.CharField(max_length=100)
    step_index = models.PositiveIntegerField()
    phase = models.CharField(max_length=20, choices=Phase.choices)
    attempt = models.PositiveIntegerField()
    generation = models.PositiveIntegerField(default=1)
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=AttemptStatus.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")
    span_id = models.CharField(max_length=16, blank=True, default="")
    # Copies of this attempt's command the participant received again and absorbed.
    duplicates = models.PositiveIntegerField(default=0)
    # The command a remote attempt sent: whether it was ever delivered decides whether a
    # timeout means "may have happened".
    message_id = models.UUIDField(null=True, blank=True)

    class Meta:
        verbose_name = "step attempt"
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["saga", "step_index", "phase", "attempt"], name="step_attempt_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=AttemptStatus.values), name="step_status_valid"
            ),
            models.CheckConstraint(condition=Q(phase__in=Phase.values), name="step_phase_valid"),
        ]
        indexes = [models.Index(fields=["idempotency_key"], name="step_idempotency_idx")]

    def __str__(self) -> str:
        return f"{self.step_name} {self.phase} #{self.attempt} ({self.status})"

    @property
    def duration_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000
