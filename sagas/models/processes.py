"""ProcessHeartbeat: one row per live worker, relay or participant process, written by its
own heartbeat (sagas/engine/heartbeats.py) and read by the Workers page and /metrics.

A process that stops cleanly deletes its row; one that dies leaves it, and the page shows
it red once `last_beat` is older than `lease_seconds`; rows long gone are pruned.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ProcessHeartbeat(models.Model):
    class Kind(models.TextChoices):
        WORKER = "worker", "Worker"
        RELAY = "relay", "Relay"
        PARTICIPANT = "participant", "Participant"

    process_id = models.CharField(max_length=160, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True, default="")  # a participant's name
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_beat = models.DateTimeField()
    # Seconds without a beat after which the process counts as dead: its lease time.
    lease_seconds = models.FloatField()
    leases_held = models.PositiveIntegerField(default=0)
    transitions = models.PositiveBigIntegerField(default=0)  # since the process started
    transitions_per_second = models.FloatField(default=0.0)  # between its last two beats

    class Meta:
        verbose_name = "process heartbeat"
        ordering = ["kind", "host", "pid"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["worker", "relay", "participant"]),
                name="process_kind_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.process_id}"
