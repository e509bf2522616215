"""manage.py run_participant NAME: run a participant service defined in a participants.py."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sagas import conf
from sagas.engine.heartbeats import Pulse
from sagas.participant import Participant, participants
from sagas.telemetry.setup import configure, shutdown


class Command(BaseCommand):
    help = (
        "Run a participant: claim its commands from the database (default), or serve "
        "them over HTTP with --http HOST:PORT."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", nargs="?", help="the participant, e.g. inventory")
        parser.add_argument("--list", action="store_true", help="list the participants")
        parser.add_argument(
            "--http",
            metavar="HOST:PORT",
            help="serve POST /commands here instead of reading the database",
        )
        parser.add_argument(
            "--reply-url",
            metavar="URL",
            help="with --http: answer 202 at once and POST the reply here",
        )
        parser.add_argument("--batch", type=int, default=10)
        parser.add_argument("--poll", type=float, default=1.0)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"] or not options["name"]:
            for name in participants.names():
                self.stdout.write(name)
            return
        try:
            participant = participants.get(options["name"])
        except Exception as exc:
            raise CommandError(str(exc)) from exc
        configure(participant.name)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        pulse = Pulse("participant", None, conf.heartbeat_seconds(), name=participant.name)
        beating = pulse.keep_beating(lambda: (0, getattr(participant, "handled", 0)), stop)
        try:
            self.serve(participant, stop, options)
        finally:
            stop.set()
            beating.join(5)
            shutdown()

    def serve(self, participant: Participant, stop: threading.Event, options: dict) -> None:
        """Serve over HTTP with --http, else from the database, with the participant's own
        transports, until `stop` is set."""
        if options["http"]:
            host, _, port = options["http"].rpartition(":")
            participant.http_transport().serve(
                participant,
                stop,
                host=host or "127.0.0.1",
                port=int(port),
                reply_url=options["reply_url"],
            )
        else:
            participant.database_transport().serve(
                participant, stop, batch=options["batch"], poll=options["poll"]
            )
