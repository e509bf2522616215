"""manage.py demo: the whole product in one process on the embedded default.

Checks that the port is free, migrates the database, makes sure there is an operator login
(kept across runs: sagas/demo/login.py) and prints it, then runs daphne, a saga worker, the
four demo participants (over the database transport) and a stream of demo orders, with
random transient faults, slow calls and outages plus a few seeded scenarios that go wrong
the same way every run (sagas/demo/scenarios.py), until Ctrl-C.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from sagas.demo.faults import Faults, FaultyParticipant, summary
from sagas.demo.login import BadPassword, Login, login_file, operator_login
from sagas.demo.scenarios import SCENARIOS
from sagas.demo.traffic import Traffic
from sagas.participant import participants
from sagas.runtime.worker import Worker
from sagas.telemetry.setup import configure, shutdown

log = logging.getLogger("sagas.demo")

DEMO_FAULTS = {
    "inventory": "failure_rate=0.05,latency=0.2,slow_rate=0.02,slow_seconds=7,seeded=1",
    # refunds fail often and payment has outages: some compensations need an operator
    "payment": "failure_rate=0.05,latency=0.3,failure_rate.refund=0.6,"
    "outage_every=90,outage_seconds=12,seeded=1",
    "shipping": "failure_rate=0.05,latency=0.2",
    "email": "failure_rate=0.1,latency=0.1,seeded=1",
}
SUMMARY_SECONDS = 10  # how often the faults injected are summed up in one line
PORTS_TRIED = 50  # above a busy port, for a free one to suggest


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
            "--no-faults",
            action="store_true",
            help="no injected faults, latencies, outages or seeded scenarios",
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=None,
            help="stop after this many seconds (default: run until Ctrl-C)",
        )
        parser.add_argument("--username", default="operator")
        parser.add_argument(
            "--password",
            default=None,
            help="set the operator's password (default: keep the one of the last run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        _check_port(host, port)  # before anything else, so a busy port costs nothing
        configure("sagascope-demo")
        call_command("migrate", interactive=False, verbosity=0)
        try:
            login = operator_login(options["username"], options["password"])
        except BadPassword as exc:
            raise CommandError(f"--password refused: {exc}") from None
        faults_on = not options["no_faults"]
        stop = threading.Event()
        worker = Worker(batch_size=20)
        traffic = Traffic(interval=options["interval"], scenarios=SCENARIOS if faults_on else ())
        threads = [threading.Thread(target=worker.run, name="saga-worker", daemon=True)]
        faults: dict[str, Faults] = {}
        for name in participants.names():
            participant = participants.get(name)
            if faults_on and isinstance(participant, FaultyParticipant):
                participant.faults = faults[name] = Faults.parse(DEMO_FAULTS.get(name, ""))
                faults[name].summed_up = True  # by _summarise, once a period
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
        banner = _banner(f"http://{host}:{port}/", login, faults, options["interval"] > 0)
        try:
            self._serve(host, port, options["duration"], banner, faults)
        finally:
            traffic.stop()
            worker.stop()
            stop.set()
            for thread in threads:
                thread.join(10)
            shutdown()
            self.stdout.write("demo stopped")

    def _serve(
        self,
        host: str,
        port: int,
        duration: float | None,
        banner: str,
        faults: dict[str, Faults],
    ) -> None:
        from channels.routing import get_default_application
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import reactor
        from twisted.internet.task import LoopingCall

        class DemoServer(Server):
            """Remembers why it could not listen, so the demo can say so and fail."""

            failure: str | None = None

            def listen_error(self, failure: Any) -> None:
                self.failure = failure.getErrorMessage()
                super().listen_error(failure)

        # The banner (with the login) appears once the server is listening.
        reactor.callWhenRunning(self.stdout.write, banner)
        if faults:
            summing = LoopingCall(_summarise, faults)
            reactor.callWhenRunning(summing.start, SUMMARY_SECONDS, False)
        if duration:
            reactor.callLater(duration, reactor.stop)
        server = DemoServer(
            application=get_default_application(),
            endpoints=build_endpoint_description_strings(host=host, port=port),
            verbosity=0,
        )
        server.run()
        if server.failure is not None:  # taken between the check and the listen
            raise CommandError(_busy(host, port, server.failure))


def _check_port(host: str, port: int) -> None:
    """CommandError unless `port` can be listened on, suggesting a free one when it is busy.
    Binds as Twisted will (SO_REUSEADDR), so a port in TIME_WAIT is not called busy."""
    try:
        _bind(host, port)
    except OSError as exc:
        raise CommandError(_busy(host, port, exc)) from None


def _busy(host: str, port: int, reason: OSError | str) -> str:
    in_use = (
        reason.errno == errno.EADDRINUSE
        if isinstance(reason, OSError)
        else "in use" in reason.lower()
    )
    if not in_use:
        why = reason.strerror if isinstance(reason, OSError) else reason
        return f"cannot listen on {host}:{port}: {why}"
    return f"port {port} is in use; try --port {_free_port(host, port)}"


def _free_port(host: str, busy: int) -> int:
    for port in range(busy + 1, min(busy + PORTS_TRIED, 65535) + 1):
        try:
            _bind(host, port)
        except OSError:
            continue
        return port
    return busy + 1


def _bind(host: str, port: int) -> None:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        probe.listen(1)


def _summarise(faults: dict[str, Faults]) -> None:
    said = summary(faults)
    if said:
        log.info("simulated faults in the last %ds: %s", SUMMARY_SECONDS, said)


def _banner(url: str, login: Login, faults: dict[str, Faults], traffic: bool) -> str:
    if login.password is not None:
        kept = "" if login.new else f" (kept from the last run, in {login_file()})"
        who = f"  log in as {login.username} / {login.password}{kept}"
    else:
        who = (
            f"  log in as {login.username} with the password you gave it (changed outside the "
            "demo, so not shown); forgot it? run the demo with --password NEW"
        )
    lines = [
        f"sagascope demo on {url}",
        who,
        f"  API: {url}api/docs (OpenAPI at {url}api/openapi.json)",
        f"  participants: {', '.join(participants.names())} (database transport)",
    ]
    if not faults:
        lines.append("  faults: off")
    else:
        lines.append("  faults (--no-faults turns them off):")
        lines += [f"    {name}: {f.describe()}" for name, f in sorted(faults.items())]
        if traffic:
            lines.append("  seeded orders, started in the first seconds:")
            lines += [f"    {s.order['sku']}: {s.shows}" for s in SCENARIOS]
    lines.append("  Ctrl-C stops it.")
    return "\n".join(lines)
