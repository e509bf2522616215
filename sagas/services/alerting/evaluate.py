"""Rules into alerts: one evaluator at a time (a lease on one row, by the database clock, so
it works the same on SQLite and PostgreSQL), every few seconds.

For each enabled rule, in its own transaction: an alert still fired whose key is found
again is only counted (deduplicated); one whose key is no longer found is resolved; a key
found with no fired alert fires a new one, with a pending delivery to every enabled
destination, unless the key's last alert that was sent fired within the rule's throttle
(then it is recorded as throttled, sent nowhere). Problem kinds fire once per key ever.
One rule that fails is logged and skipped; the others are evaluated.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q

from sagas.engine.leases import database_now
from sagas.models import Alert, AlertDelivery, AlertDestination, AlertEvaluator, AlertRule

from .findings import ONCE_PER_KEY, Finding, find

log = logging.getLogger("sagas.alerts")

EVALUATOR = "rules"
FIRED = Alert.State.FIRED
RESOLVED = Alert.State.RESOLVED


def take_turn(owner: str, seconds: float) -> bool:
    """Whether `owner` may evaluate now: it holds the lease or takes a lapsed one."""
    AlertEvaluator.objects.bulk_create([AlertEvaluator(name=EVALUATOR)], ignore_conflicts=True)
    now = database_now()
    return bool(
        AlertEvaluator.objects.filter(
            Q(owner=owner) | Q(expires_at__isnull=True) | Q(expires_at__lte=now), name=EVALUATOR
        ).update(owner=owner, expires_at=now + timedelta(seconds=seconds))
    )


def give_up_turn(owner: str) -> None:
    AlertEvaluator.objects.filter(name=EVALUATOR, owner=owner).update(owner="", expires_at=None)


def evaluate(now: datetime | None = None) -> int:
    """Evaluate every enabled rule once; returns how many deliveries were queued."""
    now = now or database_now()
    queued = 0
    Alert.objects.filter(state=FIRED, rule__enabled=False).update(state=RESOLVED, resolved_at=now)
    for rule in AlertRule.objects.filter(enabled=True).order_by("id"):
        try:
            with transaction.atomic():
                queued += apply(rule, find(rule, now), now)
        except Exception:
            log.exception("alert rule %r could not be evaluated; the others go on", rule.name)
    AlertEvaluator.objects.filter(name=EVALUATOR).update(evaluated_at=now)
    return queued


def apply(rule: AlertRule, findings: list[Finding], now: datetime) -> int:
    """Turn one rule's findings into alert changes; returns the deliveries queued."""
    fired = {a.key: a for a in Alert.objects.select_for_update().filter(rule=rule, state=FIRED)}
    found = {f.key: f for f in findings}
    Alert.objects.filter(id__in=[a.id for k, a in fired.items() if k not in found]).update(
        state=RESOLVED, resolved_at=now
    )
    Alert.objects.filter(id__in=[a.id for k, a in fired.items() if k in found]).update(
        seen=F("seen") + 1, last_seen_at=now
    )
    new = [f for key, f in found.items() if key not in fired]
    if not new:
        return 0
    earlier = Alert.objects.filter(rule=rule, key__in=[f.key for f in new])
    if rule.kind in ONCE_PER_KEY:
        known = set(earlier.values_list("key", flat=True))
        new = [f for f in new if f.key not in known]
    since = now - timedelta(seconds=rule.throttle_seconds)
    throttled = set(
        earlier.filter(throttled=False, fired_at__gt=since).values_list("key", flat=True)
    )
    alerts = Alert.objects.bulk_create(
        [
            Alert(
                rule=rule,
                key=f.key,
                title=f.title[:300],
                text=f.text,
                fired_at=now,
                last_seen_at=now,
                throttled=f.key in throttled,
            )
            for f in new
        ]
    )
    for alert in alerts:
        log.warning("alert %s: %s%s", rule.name, alert.title, " (throttled)" * alert.throttled)
    return queue([a for a in alerts if not a.throttled], now)


def queue(alerts: list[Alert], now: datetime) -> int:
    """A pending delivery of each alert to every enabled destination."""
    destinations = list(AlertDestination.objects.filter(enabled=True))
    deliveries = [
        AlertDelivery(alert=alert, destination=d, next_try_at=now, created_at=now)
        for alert in alerts
        for d in destinations
    ]
    AlertDelivery.objects.bulk_create(deliveries)
    return len(deliveries)
