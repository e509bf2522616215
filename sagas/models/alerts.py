"""Alerts: rules the workers evaluate, where alerts go, the alerts fired and their deliveries
(the alert outbox). sagas/services/alerting/ evaluates and delivers; sagas/services/alerts.py
is what operators may change.

An alert is fired for one rule and one key (a problem, a saga type, "outbox"): while it is
fired, the same rule and key fire nothing new (deduplicated); once resolved, the same key
firing again within the rule's throttle is recorded as throttled and sent nowhere.
A delivery is pending until a receiver accepts it (delivered) or its attempts run out
(failed); each attempt is retried with backoff, and a delivery never touches a saga.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.db.models import Q

MAX_NOTE = 2000  # characters of a rule's note (what to do when it fires), sent with it
MAX_ADDRESSES = 20


@dataclass(frozen=True)
class Param:
    """One parameter of a rule kind: an integer in [low, high], or one of `choices`."""

    default: Any
    low: int = 0
    high: int = 10**6
    choices: tuple[str, ...] = ()
    help: str = ""

    def check(self, name: str, value: Any) -> Any:
        if self.choices:
            if value not in self.choices:
                raise ValidationError(f"'{name}' must be one of {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"'{name}' must be a whole number, not {value!r:.40}")
        if not self.low <= value <= self.high:
            raise ValidationError(f"'{name}' must be between {self.low} and {self.high}")
        return value


class AlertKind(models.TextChoices):
    NEW_PROBLEM = "new_problem", "A new problem (failure group)"
    REGRESSION = "regression", "A resolved problem that fails again"
    FAILURE_BURST = "failure_burst", "More than N sagas of a type failing in M minutes"
    COMPENSATION_RATE = "compensation_rate", "Compensation rate of a type over X% in a window"
    STUCK = "stuck", "A saga with no progress past a threshold (forward or compensation)"
    DEAD_LETTERS = "dead_letters", "Dead letters in the outbox"
    BACKLOG = "backlog", "The oldest due saga waiting longer than N seconds"
    NO_LIVE_WORKER = "no_live_worker", "No live worker for N seconds"


# The parameters of each kind, with their defaults; a rule's `params` holds nothing else.
KIND_PARAMS: dict[str, dict[str, Param]] = {
    AlertKind.NEW_PROBLEM: {},
    AlertKind.REGRESSION: {},
    AlertKind.FAILURE_BURST: {
        "count": Param(10, 0, 10**6, help="fires when more than this many sagas failed"),
        "minutes": Param(5, 1, 24 * 60, help="in this many minutes"),
    },
    AlertKind.COMPENSATION_RATE: {
        "percent": Param(20, 1, 100, help="fires when more than this share compensated"),
        "minutes": Param(15, 1, 24 * 60, help="of the sagas finished in this many minutes"),
        "min_sagas": Param(20, 1, 10**6, help="and at least this many finished"),
    },
    AlertKind.STUCK: {
        "seconds": Param(300, 10, 7 * 24 * 3600, help="no change for this many seconds"),
        "phase": Param("forward", choices=("forward", "compensation")),
    },
    AlertKind.DEAD_LETTERS: {
        "count": Param(0, 0, 10**6, help="fires when more than this many dead letters"),
        "minutes": Param(60, 1, 7 * 24 * 60, help="were set aside in this many minutes"),
    },
    AlertKind.BACKLOG: {
        "seconds": Param(60, 1, 7 * 24 * 3600, help="the oldest due saga waits this long"),
    },
    AlertKind.NO_LIVE_WORKER: {
        "seconds": Param(60, 5, 7 * 24 * 3600, help="no worker has beaten for this long"),
    },
}
TYPED_KINDS = {AlertKind.FAILURE_BURST, AlertKind.COMPENSATION_RATE, AlertKind.STUCK}


def clean_params(kind: str, params: Any) -> dict[str, Any]:
    """The rule's parameters with defaults filled in; ValidationError naming each bad one."""
    if kind not in KIND_PARAMS:
        raise ValidationError({"kind": f"unknown kind {kind!r:.40}"})
    if not isinstance(params, dict):
        raise ValidationError({"params": 'must be a JSON object, e.g. {"count": 10}'})
    spec = KIND_PARAMS[kind]
    errors, cleaned = [], {}
    for name in params:
        if name not in spec:
            allowed = ", ".join(spec) or "none"
            errors.append(f"unknown parameter {name!r:.40} for {kind} (allowed: {allowed})")
    for name, param in spec.items():
        try:
            cleaned[name] = param.check(name, params.get(name, param.default))
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError({"params": errors})
    return cleaned


class AlertRule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    params = models.JSONField(default=dict, blank=True)
    # Only sagas of this type (kinds that count sagas); blank: every type, one alert each.
    saga_type = models.CharField(max_length=100, blank=True, default="")
    enabled = models.BooleanField(default=True)
    throttle_seconds = models.PositiveIntegerField(
        default=600,
        help_text="after an alert resolves, the same key firing again within this "
        "many seconds of the last one sent is recorded but not sent",
    )
    note = models.TextField(blank=True, default="", help_text="what to do when it fires")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AlertKind.values), name="alert_rule_kind_valid"
            )
        ]
        permissions = [
            ("manage_alerts", "Can change alert rules and destinations, and send test alerts")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.params = clean_params(self.kind, self.params)
        if len(self.note) > MAX_NOTE:
            raise ValidationError(
                {"note": f"at most {MAX_NOTE} characters (this one has {len(self.note)})"}
            )
        if self.saga_type and self.kind not in TYPED_KINDS:
            raise ValidationError({"saga_type": f"a {self.kind} rule does not filter by type"})


class AlertDestination(models.Model):
    class Channel(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (generic JSON, signed)"
        SLACK = "slack", "Webhook (Slack-compatible body)"
        EMAIL = "email", "Email"

    name = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    url = models.URLField(max_length=500, blank=True, default="")
    # The HMAC key of the signature header (sagas/messaging/signing.py); never shown again.
    secret = models.CharField(max_length=200, blank=True, default="")
    emails = models.TextField(blank=True, default="", help_text="addresses, one per line")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=["webhook", "slack", "email"]),
                name="alert_destination_channel_valid",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def addresses(self) -> list[str]:
        return [a.strip() for a in self.emails.replace(",", "\n").splitlines() if a.strip()]

    def clean(self) -> None:
        if self.channel == self.Channel.EMAIL:
            if not self.addresses:
                raise ValidationError({"emails": "an email destination needs an address"})
            if len(self.addresses) > MAX_ADDRESSES:
                raise ValidationError({"emails": f"at most {MAX_ADDRESSES} addresses"})
            for address in self.addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError(
                        {"emails": f"{address[:80]!r} is not an email address"}
                    ) from None
            return
        if not self.url:
            raise ValidationError({"url": "a webhook destination needs a URL"})
        try:
            URLValidator(schemes=["http", "https"])(self.url)
        except ValidationError:
            raise ValidationError({"url": "must be an http:// or https:// URL"}) from None
        if self.channel == self.Channel.WEBHOOK and len(self.secret) < 16:
            raise ValidationError(
                {"secret": "a generic webhook is signed: give a secret of 16 characters or more"}
            )


class Alert(models.Model):
    class State(models.TextChoices):
        FIRED = "fired", "Fired"
        RESOLVED = "resolved", "Resolved"

    # None for a test alert an operator sent by hand to one destination.
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    key = models.CharField(max_length=200)
    state = models.CharField(max_length=20, choices=State.choices, default=State.FIRED)
    title = models.CharField(max_length=300)
    text = models.TextField(blank=True, default="")
    fired_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()  # the latest evaluation that still found it
    seen = models.PositiveIntegerField(default=1)  # evaluations that found it (deduplicated)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Fired within the rule's throttle after the key's last alert that was sent: recorded,
    # sent nowhere.
    throttled = models.BooleanField(default=False)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["fired", "resolved"]), name="alert_state_valid"
            ),
            # One open alert per rule and key: the database backs the deduplication.
            models.UniqueConstraint(
                fields=["rule", "key"],
                condition=Q(state="fired"),
                name="alert_open_per_rule_key",
            ),
        ]
        indexes = [models.Index(fields=["rule", "key", "-fired_at"], name="alert_rule_key_idx")]

    def __str__(self) -> str:
        return f"{self.rule.name if self.rule else 'test'} [{self.key}] {self.state}"


class AlertDelivery(models.Model):
    """One alert to one destination: the alert outbox's row."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    id = models.BigAutoField(primary_key=True)
    # Sent as X-Sagascope-Delivery: the same on every attempt, so a receiver can drop a
    # copy it already accepted (an answer lost to a timeout means the alert is sent again).
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(
        AlertDestination, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_try_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)  # while a worker sends it
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "alert deliveries"
        constraints = [
            models.UniqueConstraint(fields=["alert", "destination"], name="alert_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]),
                name="alert_delivery_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_try_at"],
                condition=Q(status="pending"),
                name="alert_delivery_pending_idx",
            )
        ]


class AlertEvaluator(models.Model):
    """The one row whose lease says which worker evaluates the rules now, and when the
    rules were last evaluated."""

    name = models.CharField(max_length=20, primary_key=True)
    owner = models.CharField(max_length=120, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
