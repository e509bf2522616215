"""Helpers for Python services that take part in sagas; see core.py.

    from sagas.participant import Participant

    inventory = Participant("inventory")

    @inventory.command("reserve")
    def reserve(cmd):
        ...
        return {"reservation_id": 7}

Participants defined in an installed app's `participants.py` are found at start-up and
run with `manage.py run_participant inventory` (database transport) or
`manage.py run_participant inventory --http 0.0.0.0:8101` (HTTP transport).
"""

from __future__ import annotations

from .core import Command, Participant
from .registry import participants

__all__ = ["Command", "Participant", "participants"]
