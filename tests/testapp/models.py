"""Ledgers the test sagas write, to count effects and step-body executions."""

from django.db import models


class LedgerEntry(models.Model):
    """One applied effect. Deliberately no unique key: the tests count duplicates."""

    saga_id = models.UUIDField(db_index=True)
    step = models.CharField(max_length=50)
    phase = models.CharField(max_length=20)
    idempotency_key = models.CharField(max_length=200, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)


class StepCall(models.Model):
    """One execution of a step body, written outside any transaction of the step's."""

    saga_id = models.UUIDField(db_index=True)
    step = models.CharField(max_length=50)
    phase = models.CharField(max_length=20)
    idempotency_key = models.CharField(max_length=200)
    pid = models.IntegerField()
