"""OperatorAction: the audit trail of every manual intervention."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class OperatorAction(models.Model):
    saga = models.ForeignKey(
        "sagas.SagaInstance", on_delete=models.CASCADE, related_name="operator_actions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    reason = models.TextField(blank=True, default="")
    step = models.CharField(max_length=100, blank=True, default="")
    outcome = models.CharField(max_length=20, default="applied")
    status_before = models.CharField(max_length=20)
    status_after = models.CharField(max_length=20)
    version_before = models.PositiveIntegerField()
    version_after = models.PositiveIntegerField()
    detail = models.JSONField(default=dict, blank=True)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "operator action"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor}: {self.action} on {self.saga_id}"
