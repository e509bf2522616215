"""Injected faults for the demo's participants, per service, from the environment; off
unless set. The production participant and transports know nothing of them: a
FaultyParticipant serves itself with transports that inject them through their hooks.

    SAGASCOPE_FAULTS_PAYMENT="failure_rate=0.05,latency=0.3,slow_rate=0.02,slow_seconds=8,
                              failure_rate.refund=0.4,outage_every=120,outage_seconds=15"

- failure_rate[.command]: share of commands answered with a transient error (retried);
- latency: each command takes up to this many seconds;
- slow_rate / slow_seconds: share of commands slower than the step's timeout;
- outage_every / outage_seconds: the service is down this long in every period.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field

from sagas.messaging.transports import DatabaseTransport, HttpTransport
from sagas.models import OutboxMessage
from sagas.participant import Participant


class TransientFault(Exception):
    """A simulated transient fault: the service hiccuped; the attempt is retried."""


@dataclass
class Faults:
    failure_rate: float = 0.0
    latency: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    outage_every: float = 0.0
    outage_seconds: float = 0.0
    per_command: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

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
            elif key in cls.__dataclass_fields__ and key not in ("per_command", "started"):
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
            (self.failure_rate, self.latency, self.slow_rate, self.outage_every, self.per_command)
        )

    def down(self) -> bool:
        """True during an outage window."""
        if not (self.outage_every and self.outage_seconds):
            return False
        # at the end of each period, so a service starts up healthy
        phase = (time.monotonic() - self.started) % self.outage_every
        return phase >= self.outage_every - self.outage_seconds

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
            raise TransientFault(f"{command}: simulated transient fault")


class FaultyParticipant(Participant):
    """A participant that fails, lags and goes down as its faults say: those of
    SAGASCOPE_FAULTS_<NAME>, unless `faults` is replaced before it is served."""

    def __init__(self, name: str, description: str = "", register: bool = True) -> None:
        super().__init__(name, description, register)
        self.faults = Faults.from_environment(name)

    def before_command(self, command: str) -> None:
        self.faults.maybe_fail(command)

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

    def reply_delay(self, participant: Participant) -> float:
        # This one reply travels late, past its step's timeout.
        return self.faults.slow_seconds if self.faults.slow() else 0.0


class FaultyHttpTransport(HttpTransport):
    """Answers 503 during an outage, and is slow."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults

    def unavailable(self, participant: Participant) -> str:
        return "service down (injected outage)" if self.faults.down() else ""

    def before_handling(self, participant: Participant) -> None:
        if self.faults.slow():
            time.sleep(self.faults.slow_seconds)  # this request only
        self.faults.delay()


def _pending(participant: Participant) -> bool:
    return OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING,
        kind=OutboxMessage.Kind.COMMAND,
        destination=participant.name,
    ).exists()
