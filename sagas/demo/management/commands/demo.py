"""manage.py demo: the whole product in one process on the embedded default.

Migrates the database, creates an operator login and prints it, then runs daphne, a saga
worker, the four demo participants (over the database transport) and a stream of demo
orders, with random transient faults, slow calls and outages, until Ctrl-C.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from sagas.demo.faults import Faults, FaultyParticipant
from sagas.demo.traffic import Traffic
from sagas.participant import participants
from sagas.runtime.worker import Worker
from sagas.telemetry.setup import configure, shutdown

log = logging.getLogger("sagas.demo")

DEMO_FAULTS = {
    "inventory": "failure_rate=0.05,latency=0.2,slow_rate=0.02,slow_seconds=7",
    # refunds fail often and payment has outages: some compensations need an operator
    "payment": "failure_rate=0.05,latency=0.3,failure_rate.refund=0.6,"
    "outage_every=90,outage_seconds=12",
    "shipping": "failure_rate=0.05,latency=0.2",
    "email": "failure_rate=0.1,latency=0.1",
}


class Command(BaseCommand):
    help = "Run the live demo: web server, saga worker, participants and demo traffic."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="seconds between demo orders (0 = no traffic)",
        )
        parser.add_argument(
            "--no-faults", action="store_true", help="no random faults, latencies or outages"
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=None,
            help="stop after this many seconds (default: run until Ctrl-C)",
        )
        parser.add_argument("--username", default="operator")

    def handle(self, *args: Any, **options: Any) -> None:
        configure("sagascope-demo")
        call_command("migrate", interactive=False, verbosity=0)
        password = self._operator(options["username"])
        stop = threading.Event()
        worker = Worker(batch_size=20)
        traffic = Traffic(interval=options["interval"])
        threads = [threading.Thread(target=worker.run, name="saga-worker", daemon=True)]
        for name in participants.names():
            participant = participants.get(name)
            if not options["no_faults"] and isinstance(participant, FaultyParticipant):
                participant.faults = Faults.parse(DEMO_FAULTS.get(name, ""))
            threads.append(
                threading.Thread(
                    target=participant.database_transport().serve,
                    args=(participant, stop),
                    kwargs={"batch": 1, "poll": 0.1},
                    name=f"participant-{name}",
                    daemon=True,
                )
            )
        if options["interval"] > 0:
            threads.append(threading.Thread(target=traffic.run, name="demo-traffic", daemon=True))
        for thread in threads:
            thread.start()
        url = f"http://{options['host']}:{options['port']}/"
        banner = (
            f"sagascope demo on {url}\n"
            f"  log in as {options['username']} / {password}\n"
            f"  API: {url}api/docs (OpenAPI at {url}api/openapi.json)\n"
            f"  participants: {', '.join(participants.names())} (database transport)\n"
            f"  faults: {'off' if options['no_faults'] else DEMO_FAULTS}\n"
            "  Ctrl-C stops it."
        )
        try:
            self._serve(options["host"], options["port"], options["duration"], banner)
        finally:
            traffic.stop()
            worker.stop()
            stop.set()
            for thread in threads:
                thread.join(10)
            shutdown()
            self.stdout.write("demo stopped")

    def _operator(self, username: str) -> str:
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        return password

    def _serve(self, host: str, port: int, duration: float | None, banner: str) -> None:
        from channels.routing import get_default_application
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import reactor

        # The banner (with the login) appears once the server is listening.
        reactor.callWhenRunning(self.stdout.write, banner)
        if duration:
            reactor.callLater(duration, reactor.stop)
        Server(
            application=get_default_application(),
            endpoints=build_endpoint_description_strings(host=host, port=port),
            verbosity=0,
        ).run()
