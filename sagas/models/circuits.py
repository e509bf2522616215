"""CircuitBreaker: per destination, whether the relay is sending to it right now.

closed: commands go out; consecutive delivery failures are counted.
open: the destination failed `threshold` times in a row; nothing is sent to it until
    `retry_at`, and sagas waiting on it hold their attempts instead of spending retries.
half_open: the cool-down is over and one probe is on its way; its outcome closes the
    circuit or opens it again for a longer cool-down.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class CircuitBreaker(models.Model):
    class State(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"
        HALF_OPEN = "half_open", "Half-open"

    destination = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.CLOSED)
    failures = models.PositiveIntegerField(default=0)  # in a row
    opened_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)  # when the next probe may go
    cooldown = models.FloatField(default=0.0)  # seconds, doubled by each failed probe
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "circuit breaker"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["closed", "open", "half_open"]), name="circuit_state_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.destination}: {self.state}"

    @property
    def holding(self) -> bool:
        """Whether sagas waiting on this destination should hold rather than retry."""
        return self.state != self.State.CLOSED
