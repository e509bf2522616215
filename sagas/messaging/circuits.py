"""Circuit breakers on the relay's calls to participants, one per destination, kept in the
database so that every relay and every worker sees the same state.

After `failures` deliveries to a destination fail in a row, its circuit opens: the relay
sends it nothing for a cool-down, then lets one probe through (half-open). The probe's
outcome closes the circuit, or opens it again for twice the cool-down (up to a cap).
While a circuit is not closed, a saga whose command to it timed out undelivered holds its
attempt (no retry spent) instead of counting a failure and, in the end, compensating: a
short outage of one participant then delays orders instead of refunding them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from sagas import conf
from sagas.models import CircuitBreaker

log = logging.getLogger(__name__)

State = CircuitBreaker.State


def all_by_destination() -> dict[str, CircuitBreaker]:
    return {c.destination: c for c in CircuitBreaker.objects.all()}


def closed(destinations: list[str], circuits: dict[str, CircuitBreaker]) -> list[str]:
    """The destinations the relay may send to freely."""
    return [d for d in destinations if d not in circuits or circuits[d].state == State.CLOSED]


def take_probe(destination: str, now: datetime | None = None) -> bool:
    """Whether this relay may send the one probe to an open circuit now (atomic: among
    several relays, one gets it). A probe lost with its relay frees itself after a while."""
    now = now or timezone.now()
    window = timedelta(seconds=conf.relay_visibility() * 2)
    return bool(
        CircuitBreaker.objects.filter(
            destination=destination,
            state__in=[State.OPEN, State.HALF_OPEN],
            retry_at__lte=now,
        ).update(state=State.HALF_OPEN, retry_at=now + window, updated_at=now)
    )


def record_success(destination: str, circuits: dict[str, CircuitBreaker]) -> None:
    known = circuits.get(destination)
    if known is None or (known.state == State.CLOSED and known.failures == 0):
        return  # nothing to reset: no write on the hot path
    now = timezone.now()
    changed = CircuitBreaker.objects.filter(destination=destination).update(
        state=State.CLOSED, failures=0, cooldown=0.0, opened_at=None, retry_at=None, updated_at=now
    )
    if changed and known.state != State.CLOSED:
        log.warning("circuit to %s closed: it answers again", destination)
    circuits.pop(destination, None)


def record_failure(destination: str, error: str) -> CircuitBreaker:
    """Count a failed delivery; opens (or re-opens) the circuit when it should."""
    now = timezone.now()
    with transaction.atomic():
        circuit, _ = CircuitBreaker.objects.select_for_update().get_or_create(
            destination=destination, defaults={"updated_at": now}
        )
        circuit.failures += 1
        circuit.last_error = error[:2000]
        circuit.updated_at = now
        probe_failed = circuit.state == State.HALF_OPEN
        if probe_failed or (
            circuit.state == State.CLOSED and circuit.failures >= conf.circuit_failures()
        ):
            base = conf.circuit_cooldown()
            circuit.cooldown = (
                min(circuit.cooldown * 2, conf.circuit_max_cooldown()) if probe_failed else base
            )
            circuit.state = State.OPEN
            circuit.opened_at = circuit.opened_at if probe_failed else now
            circuit.retry_at = now + timedelta(seconds=circuit.cooldown)
            log.warning(
                "circuit to %s open for %.1fs after %d failures in a row: %s",
                destination,
                circuit.cooldown,
                circuit.failures,
                error,
            )
        circuit.save()
    return circuit


def holding(destination: str) -> CircuitBreaker | None:
    """The destination's circuit if sagas waiting on it should hold their attempts."""
    circuit = CircuitBreaker.objects.filter(destination=destination).first()
    return circuit if circuit is not None and circuit.holding else None


def describe_all(now: datetime) -> list[dict[str, Any]]:
    """Every destination's circuit, as the outbox page and the API show it."""
    return [describe(c, now) for c in CircuitBreaker.objects.order_by("destination")]


def describe(circuit: CircuitBreaker, now: datetime) -> dict[str, Any]:
    waiting = circuit.retry_at is not None and circuit.retry_at > now and circuit.holding
    return {
        "destination": circuit.destination,
        "state": circuit.state,
        "failures": circuit.failures,
        "opened_at": circuit.opened_at,
        "retry_at": circuit.retry_at,
        "retry_in_seconds": round((circuit.retry_at - now).total_seconds(), 1) if waiting else None,
        "cooldown_seconds": circuit.cooldown,
        "last_error": circuit.last_error[:500],
    }
