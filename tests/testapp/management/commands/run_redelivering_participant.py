"""manage.py run_redelivering_participant NAME (tests only): run_participant, handling every
command from the database twice, the copy late and out of order (tests/chaos/redelivery.py).
Over HTTP it is run_participant: the relay redelivers those commands."""

from __future__ import annotations

import threading

from sagas.demo.faults import FaultyParticipant
from sagas.management.commands import run_participant
from sagas.participant import Participant
from tests.chaos.redelivery import RedeliveringTransport


class Command(run_participant.Command):
    help = "run_participant, handling every command twice, late and out of order (tests only)."

    def serve(self, participant: Participant, stop: threading.Event, options: dict) -> None:
        if options["http"]:
            super().serve(participant, stop, options)
            return
        faults = participant.faults if isinstance(participant, FaultyParticipant) else None
        RedeliveringTransport(faults).serve(
            participant, stop, batch=options["batch"], poll=options["poll"]
        )
