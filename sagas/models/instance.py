"""SagaInstance: one running or finished saga, its position, its lease and its version."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from sagas import conf
from sagas.statuses import ACTIVE_STATUSES, CompensationCause, Phase, SagaStatus


class SagaInstance(models.Model):
    """A saga. Its state fields change only through the state machine (sagas/engine/)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    saga_type = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=SagaStatus.choices)
    correlation_id = models.CharField(max_length=200, blank=True, default="")
    input = models.JSONField(default=dict)
    # Step results by step name: what later steps and compensations are given.
    results = models.JSONField(default=dict)
    # Keyed hashes of the input's sensitive fields ({"input.card_number": "<hmac>"}), set
    # at start and at each input edit: search matches a sensitive field through these only
    # (sagas/sensitive.py), never by reading the plain value.
    sensitive_hashes = models.JSONField(default=dict, blank=True)

    # Position: which step, in which phase, at which attempt (see engine/statemachine.py).
    current_step = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.FORWARD)
    attempt = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    in_flight = models.BooleanField(default=False)
    possibly_done = models.BooleanField(default=False)
    possibly_done_earlier = models.BooleanField(default=False)
    generations = models.JSONField(default=dict)
    compensation_plan = models.JSONField(default=list)
    reason = models.TextField(blank=True, default="")
    # Why it compensated (a refusal is not a failure): the overview counts each apart.
    compensation_cause = models.CharField(
        max_length=20, blank=True, default="", choices=CompensationCause.choices
    )

    # The definition this saga started with, so a changed definition is caught, not guessed.
    definition_steps = models.JSONField(default=list)
    definition_fingerprint = models.CharField(max_length=32, blank=True, default="")

    version = models.PositiveIntegerField(default=1)
    # The saga's trace: its own span id, and the span it was started under (if any).
    trace_id = models.CharField(max_length=32, blank=True, default="")
    span_id = models.CharField(max_length=16, blank=True, default="")
    trace_parent_id = models.CharField(max_length=16, blank=True, default="")

    # Lease: who runs the saga now, until when, and the fencing epoch every write checks.
    # NULL, not "", means "no owner": the claim tests IS NULL.
    lease_owner = models.CharField(max_length=120, null=True, blank=True)  # noqa: DJ001
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_epoch = models.BigIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # A timed-out local attempt's thread may still be running (a thread cannot be killed):
    # no worker claims the saga before this time, which the worker running that thread
    # extends while it lives and clears when it ends.
    busy_until = models.DateTimeField(null=True, blank=True)

    # NULL for sagas started without a key, so the unique constraint ignores them. A key is
    # scoped to the client that sent it (`created_by`), as Stripe scopes keys per account.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    request_hash = models.CharField(max_length=64, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The failure group the saga was last put in (sagas/engine/problems.py); kept after a
    # repair, so a group knows every saga it ever held.
    problem = models.ForeignKey(
        "sagas.Problem", null=True, blank=True, on_delete=models.SET_NULL, related_name="sagas"
    )
    # Set while the saga is counted in a problem for having made no progress past its type's
    # threshold; cleared once it moves (the workers' watch, sagas/engine/problems.py).
    stuck_at = models.DateTimeField(null=True, blank=True)
    stuck_problem = models.ForeignKey(
        "sagas.Problem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stuck_sagas",
    )

    class Meta:
        verbose_name = "saga"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SagaStatus.values), name="saga_status_valid"
            ),
            models.CheckConstraint(condition=Q(phase__in=Phase.values), name="saga_phase_valid"),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="saga_idempotency_key_per_client",
            ),
        ]
        indexes = [
            # The claim: active sagas that are due, oldest deadline first.
            models.Index(
                fields=["next_run_at"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="saga_due_idx",
            ),
            models.Index(fields=["-created_at", "-id"], name="saga_created_idx"),
            models.Index(
                fields=["saga_type", "status", "-created_at"], name="saga_type_status_idx"
            ),
            models.Index(fields=["status", "-created_at"], name="saga_status_idx"),
            # Equality and prefixes (the search box: LIKE 'ord-12%'): pattern ops compare
            # bytes, so the index serves a prefix under any collation, not only "C".
            models.Index(
                fields=["correlation_id"],
                opclasses=["varchar_pattern_ops"],
                name="saga_correlation_prefix_idx",
            ),
            # The workers' watch: the few sagas counted as stuck, checked every few seconds.
            models.Index(
                fields=["stuck_at"], condition=Q(stuck_at__isnull=False), name="saga_stuck_idx"
            ),
        ]
        permissions = [
            ("retry_saga", "Can retry a saga's failed step"),
            ("resume_saga", "Can resume a failed saga"),
            ("compensate_saga", "Can compensate (abort) a saga"),
            ("cancel_saga", "Can cancel a saga before its pivot"),
            ("skip_step", "Can skip a saga step by hand"),
            ("start_saga", "Can start a saga"),
            ("edit_saga_input", "Can edit a saga's input and retry it"),
            ("bulk_operate", "Can run an action on many sagas at once"),
            ("view_traceback", "Can see step tracebacks (they name server paths)"),
            ("view_sensitive", "Can reveal a saga's sensitive fields (each reveal is audited)"),
        ]

    def __str__(self) -> str:
        return f"{self.saga_type} {self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def current_step_name(self) -> str | None:
        """The name of the step the saga is at; None past its last step."""
        steps = self.definition_steps or []
        return steps[self.current_step] if self.current_step < len(steps) else None

    @property
    def trace_url(self) -> str | None:
        """The saga's trace in Jaeger's UI; None without a trace id."""
        return conf.trace_url(self.trace_id)
