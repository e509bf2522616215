"""MetricCounter: totals that only grow (sagas started and finished, attempts, retries,
timeouts, compensations, lease losses, step durations), added to in the same transaction
as the transitions they count (sagas/engine/tally.py), so /metrics in any process reads
the exact totals of every process with one small query.

Each process adds to its own rows (`shard`), so concurrent transactions never wait on one
another's counter rows; the rows of a process long gone are folded into shard "".
"""

from __future__ import annotations

from django.db import models


class MetricCounter(models.Model):
    shard = models.CharField(max_length=160)
    name = models.CharField(max_length=40)
    saga_type = models.CharField(max_length=100, blank=True, default="")
    step = models.CharField(max_length=100, blank=True, default="")
    phase = models.CharField(max_length=20, blank=True, default="")
    # An outcome, or a histogram bucket's upper bound.
    label = models.CharField(max_length=40, blank=True, default="")
    value = models.FloatField(default=0.0)

    class Meta:
        verbose_name = "metric counter"
        constraints = [
            models.UniqueConstraint(
                fields=["shard", "name", "saga_type", "step", "phase", "label"],
                name="metric_counter_unique",
            )
        ]
