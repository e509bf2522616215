"""What a relay holds while it publishes, and what it leaves when it dies: short leases,
renewed while a publish runs; a retry that does not wait behind its own expired command;
a publish that may have arrived never offered again as undelivered; and an HTTP
participant that acknowledges a command only once its reply is stored."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from sagas import conf
from sagas.demo.sagas import OrderSaga
from sagas.messaging import outbox
from sagas.messaging.relay import Relay
from sagas.messaging.transports.http import make_server, post
from sagas.models import OutboxMessage, ProcessedMessage
from sagas.participant import Participant
from tests.factories import start

pytestmark = pytest.mark.django_db(transaction=True)


def command(saga=None, key: str = "k", deadline=None, leased_until=None) -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage.objects.create(
        saga=saga,
        kind="command",
        destination="payment",
        headers={"message_id": str(uuid.uuid4()), "idempotency_key": key},
        body={},
        available_at=now,
        created_at=now,
        deadline=deadline,
        leased_until=leased_until,
    )


def test_a_retry_is_not_stuck_behind_its_expired_command_that_a_dead_relay_leased():
    saga = start("ledger", {})
    now = timezone.now()
    dead_relays = command(saga, "k1", now - timedelta(seconds=1), now + timedelta(seconds=30))
    retry = command(saga, "k1", now + timedelta(seconds=5))
    refund = command(saga, "k2", now + timedelta(seconds=5))  # another key keeps its order
    with transaction.atomic():
        claimed = outbox.claim(OutboxMessage.Kind.COMMAND, ["payment"], 10)
    assert [m.id for m in claimed] == [retry.id]
    dead_relays.refresh_from_db()
    refund.refresh_from_db()
    assert dead_relays.status == "pending" and refund.status == "pending"


def test_the_publish_lease_is_shorter_than_the_order_sagas_step_timeouts():
    # A relay that dies mid-publish holds its commands this long; shorter than a step's
    # timeout, the lease lapses and another relay sends them before the step times out.
    timeouts = [step.timeout for step in OrderSaga.steps if step.timeout]
    assert Relay().visibility == conf.relay_visibility() < min(timeouts)


class _Slow(BaseHTTPRequestHandler):
    """Answers 202 after `seconds`; counts the commands it was sent."""

    protocol_version = "HTTP/1.1"
    seconds = 1.5
    received: list[str] = []

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
        time.sleep(self.seconds)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_publish_longer_than_the_lease_keeps_its_lease(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SAGASCOPE_PARTICIPANT_URLS = {
        "payment": f"http://127.0.0.1:{server.server_address[1]}"
    }
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s"}
    message = command()
    _Slow.received.clear()
    relay = Relay(visibility=0.4, poll_interval=0.05, patience=0.05)
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while OutboxMessage.objects.get(id=message.id).leased_until is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.8)  # twice the lease, the publish still running
        message.refresh_from_db()
        assert message.status == "pending" and message.leased_until > timezone.now()
        assert not outbox.withdraw(message.message_id)  # a worker cannot take it back
        with transaction.atomic():  # nor can another relay claim it again
            assert outbox.claim(OutboxMessage.Kind.COMMAND, ["payment"], 10) == []
        while OutboxMessage.objects.get(id=message.id).status != "sent":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert len(_Slow.received) == 1  # published once: the relay never claimed it again
    finally:
        relay.stop()
        thread.join(10)
        server.shutdown()
        server.server_close()
        connections.close_all()


def test_a_command_that_may_have_arrived_is_never_offered_again_as_undelivered(settings):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    settings.SAGASCOPE_PARTICIPANT_URLS = {
        "payment": f"http://127.0.0.1:{listener.getsockname()[1]}"
    }
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s"}
    settings.SAGASCOPE_RELAY_TIMEOUT = 0.5  # the participant takes the request, never answers
    message = command()
    try:
        Relay(patience=3).tick()
        message.refresh_from_db()
        assert message.status == "sent" and "may have been delivered" in message.last_error
        assert not outbox.withdraw(message.message_id)  # so its timeout counts it as done
    finally:
        for s in (*accepted, listener):
            s.close()


def test_an_http_participant_acknowledges_a_command_only_once_its_reply_is_stored(settings):
    slow = Participant("payment", register=False)
    handled = threading.Event()

    @slow.command("charge")
    def charge(cmd):
        time.sleep(0.5)  # long enough that an early acknowledgement would be seen
        handled.set()
        return {"charged": cmd.body["amount"]}

    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "k"}
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    reply_url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/replies"  # nobody listens
    closed.close()
    server = make_server(slow, "127.0.0.1", 0, reply_url=reply_url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saga_id = str(uuid.uuid4())
    envelope = {
        "headers": {
            "message_id": str(uuid.uuid4()),
            "saga_id": saga_id,
            "step": "charge_payment",
            "phase": "forward",
            "attempt": 1,
            "idempotency_key": f"{saga_id}:charge_payment:forward:1",
            "command": "payment.charge",
        },
        "body": {"amount": 5},
    }
    try:
        status, _, _ = post(
            f"http://127.0.0.1:{server.server_address[1]}/commands", envelope, "k", "payment"
        )
        assert status == 202
        assert handled.is_set()  # the handler ran before the acknowledgement
        stored = ProcessedMessage.objects.get(consumer="payment")
        assert json.loads(json.dumps(stored.result))["result"] == {"charged": 5}
    finally:
        server.shutdown()
        server.server_close()


class _Accepts(BaseHTTPRequestHandler):
    """Takes the command (202), but first ends the relay's database session, as a
    PostgreSQL restart would: the relay then cannot record that it was delivered."""

    protocol_version = "HTTP/1.1"
    relay_backend = 0
    received: list[str] = []

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
        with psycopg.connect(_dsn(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [self.relay_backend])
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _dsn() -> str:
    db = connections["default"].settings_dict
    return f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


@pytest.mark.postgres
@pytest.mark.parametrize("buried_first", [False, True], ids=["withdrawn", "buried as expired"])
def test_a_command_published_by_a_relay_that_lost_its_database_is_never_taken_back(
    settings, buried_first
):
    # Delivered, but the relay's mark never committed: once its lease lapses and the
    # attempt's deadline passes, the row looks untouched. Taking it back as undelivered
    # would skip the step's compensation for an effect the participant did make.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SAGASCOPE_PARTICIPANT_URLS = {
        "payment": f"http://127.0.0.1:{server.server_address[1]}"
    }
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s"}
    message = command(deadline=timezone.now() + timedelta(seconds=1))
    connection = connections["default"]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        _Accepts.relay_backend = cursor.fetchone()[0]
    _Accepts.received.clear()
    try:
        with pytest.raises(DatabaseError):
            Relay(visibility=0.3, patience=3).tick()
        assert len(_Accepts.received) == 1  # the participant has it
        connection.close()
        time.sleep(1.2)  # the lease lapses, then the attempt's deadline passes
        message.refresh_from_db()
        assert message.status == "pending"
        if buried_first:  # a claimer sweeps it as expired before the worker asks
            with transaction.atomic():
                assert outbox.bury_expired(["payment"]) == 1
        assert not outbox.withdraw(message.message_id)
    finally:
        server.shutdown()
        server.server_close()
        connections.close_all()
