"""What operators do with alerts: change rules and destinations, send a test alert, read
the history. Every change needs `sagas.manage_alerts` (checked here, whatever the face);
reading the history is an operator's right, as reading sagas is."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from sagas.engine.leases import database_now
from sagas.models import Alert, AlertDelivery, AlertDestination, AlertRule

from .actors import MANAGE_ALERTS, READ_SAGAS, Actor, require
from .alerting import deliver

HISTORY_LIMIT = 100


def save_rule(actor: Actor, rule: AlertRule) -> AlertRule:
    """Validate (ValidationError naming each bad field) and save."""
    require(actor, MANAGE_ALERTS)
    rule.full_clean()
    rule.save()
    return rule


def save_destination(actor: Actor, destination: AlertDestination) -> AlertDestination:
    require(actor, MANAGE_ALERTS)
    destination.full_clean()
    destination.save()
    return destination


def delete(actor: Actor, thing: AlertRule | AlertDestination) -> None:
    require(actor, MANAGE_ALERTS)
    thing.delete()


def send_test(actor: Actor, destination: AlertDestination) -> AlertDelivery:
    """Send a test alert to `destination` now, once; the delivery says how it went
    (`status`, `last_error`), and the history keeps it."""
    require(actor, MANAGE_ALERTS)
    now = database_now()
    with transaction.atomic():
        alert = Alert.objects.create(
            rule=None,
            key=f"test:{destination.id}",
            state=Alert.State.RESOLVED,
            title=f"Test alert from sagascope to {destination.name}"[:300],
            text=f"{actor.name} sent this test alert: the destination works.",
            fired_at=now,
            last_seen_at=now,
            resolved_at=now,
        )
        delivery = AlertDelivery.objects.create(
            alert=alert, destination=destination, next_try_at=now, created_at=now
        )
    delivery = AlertDelivery.objects.select_related("alert", "destination").get(id=delivery.id)
    deliver.attempt(delivery, give_up=True)
    return delivery


def history(actor: Actor, limit: int = HISTORY_LIMIT) -> QuerySet[Alert]:
    """The latest alerts, newest first, with their deliveries."""
    require(actor, READ_SAGAS, what="alerts")
    return (
        Alert.objects.select_related("rule")
        .prefetch_related("deliveries__destination")
        .order_by("-fired_at", "-id")[: max(1, min(limit, 500))]
    )


def summary(alert: Alert) -> dict[str, Any]:
    """An alert as the history page shows it: fired or resolved, and each delivery."""
    deliveries = sorted(alert.deliveries.all(), key=lambda d: d.id)
    return {
        "alert": alert,
        "rule": alert.rule.name if alert.rule else "test alert",
        "deliveries": [
            {
                "destination": d.destination.name,
                "status": d.status,
                "attempts": d.attempts,
                "delivered_at": d.delivered_at,
                "next_try_at": d.next_try_at if d.status == AlertDelivery.Status.PENDING else None,
                "last_error": d.last_error[:300],
            }
            for d in deliveries
        ],
    }
