"""What a transport does, on each side of a command."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sagas.models import OutboxMessage
    from sagas.participant import Participant


class DeliveryError(Exception):
    """The destination could not take the message now; the relay tries again later.

    `maybe_delivered`: the request left (the participant may have handled it, e.g. it timed
    out reading the answer), so the message must not be offered again as undelivered."""

    def __init__(self, message: str, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class Transport(ABC):
    name: str

    @abstractmethod
    def publish(self, message: OutboxMessage) -> dict[str, Any] | None:
        """Deliver a command from the outbox; return the reply envelope if the participant
        answered at once, None if the reply comes later. Raise DeliveryError if it failed."""

    @abstractmethod
    def serve(self, participant: Participant, stop: threading.Event, **options: Any) -> None:
        """Receive `participant`'s commands and answer them until `stop` is set."""
