"""manage.py run_relay: publish pending commands to participants reached over HTTP."""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from django.core.management.base import BaseCommand

from sagas import conf
from sagas.messaging.relay import Relay
from sagas.runtime.alerting import AlertLoop
from sagas.telemetry.setup import configure, shutdown


class Command(BaseCommand):
    help = "Publish outbox commands to HTTP participants (SAGASCOPE_PARTICIPANT_URLS)."
    relay_class = Relay

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=50)
        parser.add_argument("--poll", type=float, default=1.0)
        parser.add_argument("--concurrency", type=int, default=16, help="commands sent at once")
        parser.add_argument(
            "--visibility",
            type=float,
            default=None,
            help="seconds a claimed message stays leased without a heartbeat "
            "(default SAGASCOPE_RELAY_VISIBILITY, 3; keep it below your steps' timeouts)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        configure("relay")
        relay = self.relay_class(
            batch_size=options["batch_size"],
            poll_interval=options["poll"],
            visibility=options["visibility"],
            concurrency=options["concurrency"],
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: relay.stop())
        # Relays take turns at evaluating the alert rules too: with every worker gone, the
        # rule "no live worker" still has someone to notice it.
        alerts = (
            AlertLoop(f"relay:{socket.gethostname()}:{os.getpid()}")
            if conf.alerts_enabled()
            else None
        )
        if alerts is not None:
            alerts.start()
        try:
            relay.run()
        finally:
            if alerts is not None:
                alerts.stop()
        shutdown()
