"""manage.py run_redelivering_relay (tests only): run_relay, publishing every command twice,
the copy late and out of order (tests/chaos/redelivery.py)."""

from __future__ import annotations

from sagas.management.commands import run_relay
from tests.chaos.redelivery import RedeliveringRelay


class Command(run_relay.Command):
    help = "run_relay, delivering every command twice, late and out of order (tests only)."
    relay_class = RedeliveringRelay
