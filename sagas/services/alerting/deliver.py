"""The alert outbox: deliveries claimed a few at a time (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so several workers share the work; SQLite serialises writers), leased while they
are sent outside any transaction, then marked delivered, or retried with backoff, or failed
once their attempts run out. Nothing here touches a saga; a receiver that hangs costs one
timeout on the delivery thread, never the saga loop.

At least once: a receiver whose answer is lost (a timeout) gets the alert again with the
same X-Sagascope-Delivery id, and drops the copy.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import requests
from django.core import mail
from django.db import transaction
from django.db.models import F, Q

from sagas import conf
from sagas.definition import Retry
from sagas.engine.leases import database_now
from sagas.models import AlertDelivery, AlertDestination

from . import bodies

log = logging.getLogger("sagas.alerts")

Status = AlertDelivery.Status
Channel = AlertDestination.Channel
BATCH = 10


class DeliveryFailed(Exception):
    """The receiver did not accept the alert."""


def claim(limit: int = BATCH) -> list[AlertDelivery]:
    """Lease up to `limit` due deliveries to the caller (for two timeouts and a margin)."""
    lease = timedelta(seconds=conf.alert_timeout() * 2 + 5)
    with transaction.atomic():
        now = database_now()
        due = (
            AlertDelivery.objects.filter(status=Status.PENDING, next_try_at__lte=now)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
            .order_by("next_try_at", "id")
            .select_for_update(skip_locked=True)
        )
        ids = list(due.values_list("id", flat=True)[:limit])
        AlertDelivery.objects.filter(id__in=ids).update(leased_until=now + lease)
    return list(
        AlertDelivery.objects.filter(id__in=ids)
        .select_related("alert", "alert__rule", "destination")
        .order_by("id")
    )


def work(limit: int = BATCH) -> int:
    """Send one claimed batch; returns how many were claimed. A destination that fails
    once in a batch gets its other deliveries back unsent (no attempt counted), due when
    the failed one tries again."""
    batch = claim(limit)
    down: dict[int, object] = {}  # destination id: when its failed delivery tries again
    for delivery in batch:
        if delivery.destination_id in down:
            AlertDelivery.objects.filter(id=delivery.id).update(
                leased_until=None, next_try_at=down[delivery.destination_id]
            )
            continue
        if not attempt(delivery):
            down[delivery.destination_id] = delivery.next_try_at
    return len(batch)


def attempt(delivery: AlertDelivery, give_up: bool = False) -> bool:
    """Send once and record how it went; `give_up`: a failure is final (a test alert)."""
    try:
        send(delivery)
    except DeliveryFailed as exc:
        _failed(delivery, str(exc), give_up)
        return False
    except Exception as exc:  # a bug or an odd backend must not end the delivery thread
        log.exception("alert delivery %s raised", delivery.id)
        _failed(delivery, f"{type(exc).__name__}: {exc}", give_up)
        return False
    AlertDelivery.objects.filter(id=delivery.id, status=Status.PENDING).update(
        status=Status.DELIVERED,
        attempts=F("attempts") + 1,
        delivered_at=database_now(),
        leased_until=None,
    )
    delivery.refresh_from_db()
    return True


def _failed(delivery: AlertDelivery, error: str, give_up: bool) -> None:
    attempts = delivery.attempts + 1
    final = give_up or attempts >= conf.alert_max_attempts()
    backoff = Retry(max_attempts=None, backoff=conf.alert_backoff(), max_backoff=300.0)
    delay = timedelta(seconds=backoff.delay(attempts, random.random()))
    log.warning(
        "alert %s to %s: attempt %d failed (%s)%s",
        delivery.alert_id,
        delivery.destination.name,
        attempts,
        error,
        "; giving up" if final else f"; next in {delay.total_seconds():.1f}s",
    )
    AlertDelivery.objects.filter(id=delivery.id, status=Status.PENDING).update(
        status=Status.FAILED if final else Status.PENDING,
        attempts=attempts,
        next_try_at=database_now() + delay,
        leased_until=None,
        last_error=error[:2000],
    )
    delivery.refresh_from_db()


def send(delivery: AlertDelivery) -> None:
    destination = delivery.destination
    if destination.channel == Channel.EMAIL:
        subject, text = bodies.email(delivery.alert)
        try:
            connection = mail.get_connection(fail_silently=False, timeout=conf.alert_timeout())
            mail.send_mail(subject, text, None, destination.addresses, connection=connection)
        except OSError as exc:  # smtplib's errors and socket errors
            raise DeliveryFailed(f"email to {destination.name} failed: {exc}") from exc
        return
    body, headers = bodies.webhook(delivery.alert, delivery, destination.channel == Channel.SLACK)
    timeout = conf.alert_timeout()
    try:
        response = requests.post(
            destination.url,
            data=body,
            headers=headers,
            timeout=(min(timeout, 3.0), timeout),
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise DeliveryFailed(f"{destination.url} did not answer within {timeout:g}s") from exc
    except requests.ConnectionError as exc:
        raise DeliveryFailed(f"could not connect to {destination.url}: {_reason(exc)}") from exc
    except requests.RequestException as exc:
        raise DeliveryFailed(f"{destination.url}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(
            f"{destination.url} answered HTTP {response.status_code}: {response.text[:200]}"
        )


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "No route to host"):
        if known in text:
            return known.lower()
    return text[:300]
