"""Both transports run the same order-saga suite; the relay's order, backoff and pipeline."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from sagas.demo.models import Payment, Reservation, StockItem
from sagas.messaging import outbox
from sagas.messaging.relay import Relay
from sagas.models import OutboxMessage, SagaInstance
from sagas.statuses import Phase, SagaStatus
from tests.chaos.redelivery import RedeliveringRelay, RedeliveringTransport
from tests.factories import settle, start, worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["database", "http"])
def run(request):
    """Run order sagas to the end over one transport."""
    relay = None
    if request.param == "http":
        request.getfixturevalue("http_participants")
        relay = Relay()

    def go(sku: str, qty: int = 2, amount: float = 50, country: str = "FR") -> SagaInstance:
        saga = start("order", {"sku": sku, "qty": qty, "amount": amount, "country": country})
        settle(worker(), also=relay.tick if relay else None)
        saga.refresh_from_db()
        return saga

    go.transport = request.param
    return go


def comp(saga: SagaInstance) -> list[str]:
    return list(
        saga.attempts.filter(phase=Phase.COMPENSATION)
        .order_by("started_at", "id")
        .values_list("step_name", flat=True)
    )


def test_a_good_order_completes(run):
    saga = run("OK-1", qty=3)
    assert saga.status == SagaStatus.COMPLETED, saga.reason
    item = StockItem.objects.get(sku="OK-1")
    assert (item.on_hand, item.reserved) == (97, 0)
    assert OutboxMessage.objects.filter(kind="command", status="sent").count() == 4
    assert not OutboxMessage.objects.filter(status="pending").exists()


def test_out_of_stock_cancels(run):
    saga = run("OK-2", qty=150)
    assert saga.status == SagaStatus.COMPENSATED and comp(saga) == ["create_order"]
    assert "150 requested, 100 available" in saga.reason


def test_declined_payment_releases_and_cancels(run):
    saga = run("OK-3", amount=1500)
    assert saga.status == SagaStatus.COMPENSATED
    assert comp(saga) == ["reserve_inventory", "create_order"]
    assert Reservation.objects.get(saga_id=saga.id).status == "released"


def test_unserved_country_refunds_releases_and_cancels(run):
    saga = run("OK-4", country="AQ")
    assert saga.status == SagaStatus.COMPENSATED
    assert comp(saga) == ["charge_payment", "reserve_inventory", "create_order"]
    assert Payment.objects.get(saga_id=saga.id).status == "refunded"


def test_commands_carry_every_header(run):
    saga = run("OK-5")
    command = OutboxMessage.objects.filter(saga=saga, kind="command").order_by("id").first()
    assert {
        "message_id",
        "saga_id",
        "step",
        "phase",
        "attempt",
        "idempotency_key",
        "correlation_id",
        "reply_to",
        "traceparent",
        "tracestate",
        "baggage",
    } <= set(command.headers)
    assert command.headers["traceparent"].startswith(f"00-{saga.trace_id}-")
    assert f"saga.id={saga.id}" in command.headers["baggage"]
    assert command.body == {"sku": "OK-5", "qty": 2}


def test_claims_keep_order_per_saga_and_destination():
    now = timezone.now()
    saga = start("ledger")
    make = lambda dest: OutboxMessage.objects.create(  # noqa: E731
        saga=saga,
        kind="command",
        destination=dest,
        headers={},
        body={},
        available_at=now,
        created_at=now,
    )
    first, second, other = make("payment"), make("payment"), make("email")
    from django.db import transaction

    with transaction.atomic():
        claimed = outbox.claim("command", None, 10)
    assert [m.id for m in claimed] == [first.id, other.id]  # `second` waits for `first`
    assert second.id not in [m.id for m in claimed]


def test_the_relay_backs_off_a_destination_that_is_down(settings):
    settings.SAGASCOPE_PARTICIPANT_URLS = {"payment": "http://127.0.0.1:9"}
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s"}
    now = timezone.now()
    message = OutboxMessage.objects.create(
        kind="command",
        destination="payment",
        headers={"message_id": "m"},
        body={},
        available_at=now,
        created_at=now,
    )
    relay = Relay()
    assert relay.tick() == 0
    message.refresh_from_db()
    assert message.status == "pending" and message.attempts == 1
    assert message.available_at > now and "127.0.0.1:9" in message.last_error
    assert relay.tick() == 0  # not due yet: no second attempt
    message.refresh_from_db()
    assert message.attempts == 1


@pytest.fixture
def chaos(monkeypatch):
    """The relay and the database transport that `run` uses deliver everything twice."""
    monkeypatch.setattr(f"{__name__}.Relay", RedeliveringRelay)
    monkeypatch.setattr("tests.factories.DatabaseTransport", RedeliveringTransport)


def test_every_message_twice_late_and_out_of_order_changes_no_outcome(chaos, run):
    sagas = [
        run(f"CH-{i}", **kw)
        for i, kw in enumerate([{}, {"qty": 150}, {"amount": 1500}, {"country": "AQ"}])
    ]
    assert [s.status for s in sagas] == ["completed", "compensated", "compensated", "compensated"]
    # each effect once, in the services' own tables, though every command came twice
    assert Payment.objects.count() == 2  # the completed order and the refunded AQ one
    assert Payment.objects.filter(status="charged").count() == 1
    from sagas.models import ProcessedMessage, SagaEvent

    assert ProcessedMessage.objects.filter(duplicates__gt=0).exists()
    assert SagaEvent.objects.filter(type="reply_ignored").exists()


class _Accepting(BaseHTTPRequestHandler):
    """A participant that accepts every command (202, the reply follows later), after
    waiting on `hold` when it is the slow one."""

    hold: threading.Event | None = None
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.hold is not None:
            self.hold.wait(30)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_slow_participant_holds_its_own_message_only(settings):
    hold = threading.Event()
    slow = type("Slow", (_Accepting,), {"hold": hold})
    servers = {"payment": ThreadingHTTPServer(("127.0.0.1", 0), slow)}
    servers["shipping"] = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SAGASCOPE_PARTICIPANT_URLS = {
        name: f"http://127.0.0.1:{s.server_address[1]}" for name, s in servers.items()
    }
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s", "shipping": "s"}
    now = timezone.now()
    stuck, quick = (
        OutboxMessage.objects.create(
            kind="command",
            destination=name,
            headers={"message_id": name},
            body={},
            available_at=now,
            created_at=now,
        )
        for name in ("payment", "shipping")
    )
    relay = Relay(patience=0.5)
    try:
        assert relay.tick() == 1  # shipping went out while payment still answers
        stuck.refresh_from_db()
        quick.refresh_from_db()
        assert (quick.status, stuck.status) == ("sent", "pending")
        assert stuck.leased_until is not None  # in flight: no other claim sends it again
        assert relay.tick() == 0
        hold.set()
        deadline = time.monotonic() + 10
        while relay.tick() == 0:
            assert time.monotonic() < deadline
        stuck.refresh_from_db()
        assert stuck.status == "sent" and stuck.leased_until is None
    finally:
        hold.set()
        for server in servers.values():
            server.shutdown()
            server.server_close()
