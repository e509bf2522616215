"""Injected faults for the demo's participants, per service, from the environment; off
unless set. The production participant and transports know nothing of them: a
FaultyParticipant serves itself with transports that inject them through their hooks.

    SAGASCOPE_FAULTS_PAYMENT="failure_rate=0.05,latency=0.3,slow_rate=0.02,slow_seconds=8,
                              failure_rate.refund=0.4,outage_every=120,outage_seconds=15"

- failure_rate[.command]: share of commands answered with a transient error (retried);
- latency: each command takes up to this many seconds;
- slow_rate / slow_seconds: share of commands slower than the step's timeout;
- outage_every / outage_seconds: the service is down this long in every period;
- seeded=1: the seeded scenarios' faults (scenarios.py) for this service's commands.

Each fault injected is counted; a simulated failure is logged as INFO, never as a warning,
and not at all where the faults are summed up (the demo prints one line a period).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagas.messaging.transports import DatabaseTransport, HttpTransport
from sagas.models import OutboxMessage
from sagas.participant import Participant

from . import scenarios
from .models import Order

log = logging.getLogger(__name__)

# The faults' numbers, as SAGASCOPE_FAULTS_<NAME> sets them.
NUMBERS = (
    "failure_rate",
    "latency",
    "slow_rate",
    "slow_seconds",
    "outage_every",
    "outage_seconds",
    "seeded",
)

# What each kind of injected fault is called in the demo's summary: (one, many).
KINDS = {
    "failed": ("transient error", "transient errors"),
    "late": ("late reply", "late replies"),
    "outage": ("outage", "outages"),
}
SEEDED = "seeded: "


class SimulatedFault(Exception):
    """A fault the demo injected; not a bug to look into."""


class TransientFault(SimulatedFault):
    """A simulated transient fault: the service hiccuped; the attempt is retried."""


class SeededFault(SimulatedFault):
    """A seeded scenario's failure (scenarios.py): retried until it runs out."""


@dataclass
class Faults:
    failure_rate: float = 0.0
    latency: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    outage_every: float = 0.0
    outage_seconds: float = 0.0
    seeded: float = 0.0
    per_command: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    # Someone sums the faults up (the demo, once a period): log none of them one by one.
    summed_up: bool = field(default=False, compare=False)
    # What was injected since the last `take_counts()`: "failed", "late", "outage", ...
    counts: Counter[str] = field(default_factory=Counter, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _was_down: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        faults = cls()
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, _, value = item.partition("=")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"fault {item!r}: the value must be a number") from None
            if key.startswith("failure_rate."):
                faults.per_command[key.split(".", 1)[1]] = number
            elif key in NUMBERS:
                setattr(faults, key, number)
            else:
                raise ValueError(f"unknown fault {key!r}")
        return faults

    @classmethod
    def from_environment(cls, service: str) -> Faults:
        return cls.parse(os.environ.get(f"SAGASCOPE_FAULTS_{service.upper()}", ""))

    @property
    def active(self) -> bool:
        return any(
            (
                self.failure_rate,
                self.latency,
                self.slow_rate,
                self.outage_every,
                self.per_command,
                self.seeded,
            )
        )

    def describe(self) -> str:
        """The faults in words, for the demo's banner."""
        parts = []
        if self.failure_rate or self.per_command:
            each = ", ".join(f"{c} {r:.0%}" for c, r in sorted(self.per_command.items()))
            parts.append(f"{self.failure_rate:.0%} of commands fail{f' ({each})' if each else ''}")
        if self.latency:
            parts.append(f"up to {self.latency:g} s latency")
        if self.slow_rate:
            parts.append(f"{self.slow_rate:.0%} of replies {self.slow_seconds:g} s late")
        if self.outage_every and self.outage_seconds:
            parts.append(f"down {self.outage_seconds:g} s every {self.outage_every:g} s")
        if self.seeded:
            parts.append("the seeded scenarios")
        return ", ".join(parts) or "none"

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind] += n

    def take_counts(self) -> Counter[str]:
        """What was injected since the last call (and forget it)."""
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def down(self) -> bool:
        """True during an outage window."""
        if not (self.outage_every and self.outage_seconds):
            return False
        # at the end of each period, so a service starts up healthy
        phase = (time.monotonic() - self.started) % self.outage_every
        down = phase >= self.outage_every - self.outage_seconds
        if down and not self._was_down:
            self.count("outage")
        self._was_down = down
        return down

    def delay(self) -> None:
        """Take as long as the service's usual latency; call outside any transaction."""
        if self.latency:
            time.sleep(random.uniform(0, self.latency))

    def slow(self) -> bool:
        """Whether this one command is slower than its step's timeout (its reply will be
        late); only that command is held up, as with a slow request, not the service."""
        return bool(self.slow_rate) and random.random() < self.slow_rate

    def maybe_fail(self, command: str) -> None:
        rate = self.per_command.get(command, self.failure_rate)
        if rate and random.random() < rate:
            self.count("failed")
            raise TransientFault(f"{command}: simulated transient fault")

    def seeded_failure(self, command: str, headers: Mapping[str, Any], body: Any) -> None:
        """Raise the failure a seeded scenario has for this command (service.command), if
        any; an operator's retry (a new idempotency-key generation) goes through."""
        if not self.seeded or not scenarios.needs_lookup(command):
            return
        if str(headers.get("idempotency_key", "")).rpartition(":")[2] != "1":
            return
        scenario = scenarios.failing(command, _sku(headers, body))
        if scenario is not None:
            self.count(f"{SEEDED}{scenario.name}")
            raise SeededFault(scenario.error)

    def reply_delay(self, service: str, envelope: Any) -> float:
        """How late this reply comes: a seeded scenario's, or now and then a slow one."""
        if self.seeded and isinstance(envelope, dict):
            headers, body = envelope.get("headers") or {}, envelope.get("body") or {}
            command, sku = f"{headers.get('command')}", body.get("sku")
            attempt = headers.get("attempt")
            scenario = scenarios.late(command, sku, attempt) if isinstance(attempt, int) else None
            if scenario is not None:
                self.count(f"{SEEDED}{scenario.name}")
                return scenarios.LATE_SECONDS
        if self.slow():
            self.count("late")
            return self.slow_seconds
        return 0.0


class FaultyParticipant(Participant):
    """A participant that fails, lags and goes down as its faults say: those of
    SAGASCOPE_FAULTS_<NAME>, unless `faults` is replaced before it is served."""

    def __init__(self, name: str, description: str = "", register: bool = True) -> None:
        super().__init__(name, description, register)
        self.faults = Faults.from_environment(name)

    def before_command(self, command: str, headers: Mapping[str, Any], body: Any) -> None:
        # Before the inbox, as a service failing at its door: a seeded failure first, so
        # its cause is the same on every run, then the random ones.
        self.faults.seeded_failure(f"{self.name}.{command}", headers, body)
        self.faults.maybe_fail(command)

    def report_failure(self, exc: Exception) -> None:
        if isinstance(exc, SimulatedFault):
            # Expected, so never a warning; counted where injected, for the demo's summary.
            level = logging.DEBUG if self.faults.summed_up else logging.INFO
            log.log(level, "%s: simulated fault: %s", self.name, exc)
            return
        super().report_failure(exc)

    def database_transport(self) -> DatabaseTransport:
        return FaultyDatabaseTransport(self.faults)

    def http_transport(self) -> HttpTransport:
        return FaultyHttpTransport(self.faults)


class FaultyDatabaseTransport(DatabaseTransport):
    """Takes no command during an outage, is slow, and sends some replies late."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    def receive(self, participant: Participant, limit: int = 10) -> int:
        if self.faults.down():
            return 0  # the commands wait in the outbox
        if self.faults.active:
            if not _pending(participant):
                return 0
            self.faults.delay()  # a slow service, without holding any lock
        return super().receive(participant, limit)

    def reply_delay(self, participant: Participant, envelope: dict) -> float:
        # This one reply travels late, past its step's timeout.
        return self.faults.reply_delay(participant.name, envelope)


class FaultyHttpTransport(HttpTransport):
    """Answers 503 during an outage, and is slow."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    def unavailable(self, participant: Participant) -> str:
        return "service down (injected outage)" if self.faults.down() else ""

    def before_handling(self, participant: Participant, envelope: Any) -> None:
        late = self.faults.reply_delay(participant.name, envelope)
        if late:
            time.sleep(late)  # this request only
        self.faults.delay()


def _sku(headers: Mapping[str, Any], body: Any) -> str | None:
    """The order's SKU: in the body, or (a refund's body has only the amount) from the
    shop's order, which the demo's services share one database to read."""
    sku = body.get("sku") if isinstance(body, dict) else None
    if isinstance(sku, str):
        return sku
    try:
        saga_id = uuid.UUID(str(headers.get("saga_id")))
    except ValueError:
        return None
    return Order.objects.filter(saga_id=saga_id).values_list("sku", flat=True).first()


def _pending(participant: Participant) -> bool:
    return OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING,
        kind=OutboxMessage.Kind.COMMAND,
        destination=participant.name,
    ).exists()


def summary(faults: Mapping[str, Faults]) -> str:
    """One line: what each service's faults injected since the last summary ("" for none),
    e.g. "payment 2 transient errors, 1 outage; seeded: refund fails x5"."""
    parts: list[str] = []
    seeded: Counter[str] = Counter()
    for service, service_faults in sorted(faults.items()):
        counts = service_faults.take_counts()
        said = []
        for kind, (one, many) in KINDS.items():
            n = counts.pop(kind, 0)
            if n:
                said.append(f"{n} {one if n == 1 else many}")
        for kind, n in counts.items():
            seeded[kind.removeprefix(SEEDED)] += n
        if said:
            parts.append(f"{service} {', '.join(said)}")
    if seeded:
        parts.append("seeded: " + ", ".join(f"{name} x{n}" for name, n in sorted(seeded.items())))
    return "; ".join(parts)
