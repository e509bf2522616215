"""Problem: the sagas that need an operator for one cause (sagas/engine/fingerprint.py),
grouped as they fail, so that 135 sagas failed by one outage are one line with one fix.

open: needs looking at. snoozed: hidden until `snoozed_until`, or until `snooze_failures`
more sagas fail in it. resolved: the operator says the cause is fixed; a new failure
reopens the group and marks it regressed. ignored: failures still count, nothing calls
for attention.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

SPARK_HOURS = 24  # the hourly failure counts kept for the sparkline


def hour_start(moment: datetime) -> int:
    """The start of `moment`'s hour, in epoch seconds: the key of `Problem.hourly`."""
    return int(moment.timestamp()) // 3600 * 3600


class Problem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"
        IGNORED = "ignored", "Ignored"

    fingerprint = models.CharField(max_length=40, unique=True)
    saga_type = models.CharField(max_length=100)
    step = models.CharField(max_length=100, blank=True, default="")
    phase = models.CharField(max_length=20, blank=True, default="")
    error_type = models.CharField(max_length=200)
    message = models.TextField()  # normalised: what every saga in the group says
    sample = models.TextField(blank=True, default="")  # the latest message as it was said
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    open_count = models.IntegerField(default=0)  # sagas in the group that still need an operator
    total_count = models.PositiveIntegerField(default=0)  # failures ever grouped here
    hourly = models.JSONField(default=dict)  # {"<hour as epoch seconds>": failures}
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snooze_failures = models.PositiveIntegerField(null=True, blank=True)
    regressed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.TextField(blank=True, default="")
    ticket_url = models.URLField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "snoozed", "resolved", "ignored"]),
                name="problem_status_valid",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-open_count", "-last_seen"], name="problem_triage_idx")
        ]
        permissions = [("triage_problem", "Can change a problem's status, owner, note and ticket")]

    def __str__(self) -> str:
        return f"{self.saga_type}.{self.step} {self.error_type}: {self.message[:80]}"

    def status_at(self, now: datetime) -> str:
        """The status as an operator reads it: a snooze whose time is over is open (the
        row says so too at the group's next failure)."""
        if self.status == self.Status.SNOOZED and self.snoozed_until and self.snoozed_until <= now:
            return self.Status.OPEN
        return self.status

    @classmethod
    def in_status(cls, status: str, now: datetime) -> Q:
        """The problems whose `status_at(now)` is `status`."""
        woken = Q(status=cls.Status.SNOOZED, snoozed_until__lte=now)
        if status == cls.Status.OPEN:
            return Q(status=status) | woken
        if status == cls.Status.SNOOZED:
            return Q(status=status) & ~woken
        return Q(status=status)


class ProblemChange(models.Model):
    """The audit trail of triage: who changed a problem's status, owner, note or ticket."""

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="changes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=20)
    status_before = models.CharField(max_length=20)
    status_after = models.CharField(max_length=20)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor}: {self.action} on problem {self.problem_id}"
