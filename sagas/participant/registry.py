"""The participants this process defines, found in each installed app's participants.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sagas.exceptions import SagaError

if TYPE_CHECKING:
    from .core import Participant


class UnknownParticipant(SagaError):
    """No participant has this name; run `manage.py run_participant --list`."""


class ParticipantRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, Participant] = {}

    def add(self, participant: Participant) -> None:
        existing = self._by_name.get(participant.name)
        if existing is not None and existing is not participant:
            raise SagaError(f"participant '{participant.name}' is defined twice")
        self._by_name[participant.name] = participant

    def get(self, name: str) -> Participant:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise UnknownParticipant(f"no participant named {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)


participants = ParticipantRegistry()
