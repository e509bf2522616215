"""Delivery through the alert outbox to a real HTTP receiver: down, slow, 500, then back,
and the alert arrives once, signed like the participants' messages; Slack's body; email
through Django's backend; a test alert per destination; and a worker that keeps moving
sagas while a receiver hangs."""

from __future__ import annotations

import threading
import time

import pytest
from django.core import mail

from sagas.messaging import signing
from sagas.models import AlertDelivery, AlertDestination, SagaInstance
from sagas.runtime.worker import Worker
from sagas.services import alerts
from sagas.services.actors import Actor
from sagas.services.alerting import deliver
from sagas.services.alerting.evaluate import evaluate
from sagas.statuses import ACTIVE_STATUSES
from tests.alerts.receiver import SECRET, Receiver
from tests.factories import start
from tests.processes import wait_for
from tests.repairable import make

pytestmark = pytest.mark.django_db(transaction=True)


def deliver_until_done(timeout: float = 20.0) -> None:
    """Run delivery rounds as a worker's delivery thread does, until nothing is pending."""
    deadline = time.monotonic() + timeout
    while AlertDelivery.objects.filter(status="pending").exists():
        assert time.monotonic() < deadline, list(AlertDelivery.objects.values())
        deliver.work()
        time.sleep(0.05)


def test_a_receiver_down_slow_failing_then_back_gets_the_alert_once(repairable, rule):
    receiver = Receiver(script=["slow", 500], slow_seconds=2.0)
    rule("new_problem")
    # Down: nothing listens on the port yet.
    with Receiver().start() as probe:
        port = probe.port
    hook = AlertDestination.objects.create(
        name="hook", channel="webhook", url=f"http://127.0.0.1:{port}/hook", secret=SECRET
    )
    make("failed_forward")
    assert evaluate() == 1
    deliver.work()
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "connection refused" in delivery.last_error
    receiver.port = port
    receiver.start()
    try:
        deliver_until_done()
    finally:
        receiver.stop()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    assert [r.answered for r in receiver.received] == [503, 500, 200]
    (accepted,) = receiver.accepted
    # The same delivery id on every attempt; the signature verifies with the secret.
    assert {r.headers["X-Sagascope-Delivery"] for r in receiver.received} == {
        str(delivery.delivery_id)
    }
    signing.verify(
        SECRET,
        accepted.body,
        accepted.headers[signing.TIMESTAMP],
        accepted.headers[signing.SIGNATURE],
    )
    alert = accepted.json["alert"]
    assert (alert["kind"], alert["state"], alert["test"]) == ("new_problem", "fired", False)
    assert alert["title"].startswith("New problem in repairable")
    assert hook.deliveries.get().status == "delivered"


def test_a_delivery_gives_up_after_its_attempts_and_says_why(repairable, rule, settings):
    settings.SAGASCOPE_ALERT_MAX_ATTEMPTS = 2
    receiver = Receiver(script=[500, 500, 500]).start()
    try:
        AlertDestination.objects.create(
            name="h", channel="webhook", url=receiver.url, secret=SECRET
        )
        rule("new_problem")
        make("failed_forward")
        evaluate()
        deliver_until_done()
    finally:
        receiver.stop()
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert "answered HTTP 500" in delivery.last_error


def test_slack_gets_its_body_shape_with_saga_text_escaped(repairable, rule, receiver):
    AlertDestination.objects.create(name="slack", channel="slack", url=receiver.url)
    rule("new_problem", note="Page <@oncall> & check the <mail> server")
    make("failed_forward")
    evaluate()
    deliver_until_done()
    (got,) = receiver.accepted
    body = got.json
    assert set(body) == {"text", "blocks"}
    header, section = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert section["text"]["type"] == "mrkdwn"
    assert "&lt;@oncall&gt; &amp; check the &lt;mail&gt;" in section["text"]["text"]
    assert signing.SIGNATURE not in got.headers  # no secret, no signature


def test_email_goes_through_djangos_backend(repairable, rule):
    AlertDestination.objects.create(
        name="ops mail", channel="email", emails="ops@x.test, oncall@x.test"
    )
    rule("new_problem", note="Look at the mail server.")
    make("failed_forward")
    evaluate()
    deliver_until_done()
    (message,) = mail.outbox
    assert message.to == ["ops@x.test", "oncall@x.test"]
    assert message.subject.startswith("[sagascope] New problem in repairable")
    assert "Look at the mail server." in message.body
    assert AlertDelivery.objects.get().status == "delivered"


def test_a_test_alert_reports_delivery_or_a_clear_error(manager, receiver):
    actor = Actor.of_user(manager)
    good = AlertDestination.objects.create(
        name="good", channel="webhook", url=receiver.url, secret=SECRET
    )
    assert alerts.send_test(actor, good).status == "delivered"
    assert receiver.accepted[0].json["alert"]["test"] is True
    with Receiver().start() as closed:
        port = closed.port
    gone = AlertDestination.objects.create(
        name="gone", channel="webhook", url=f"http://127.0.0.1:{port}/", secret=SECRET
    )
    failed = alerts.send_test(actor, gone)
    assert failed.status == "failed"
    assert failed.last_error == f"could not connect to http://127.0.0.1:{port}/: connection refused"


def test_the_worker_moves_sagas_while_a_receiver_hangs(repairable, rule, settings):
    settings.SAGASCOPE_ALERT_TIMEOUT = 3.0
    hanging = Receiver(script=["slow"] * 50, slow_seconds=30).start()
    AlertDestination.objects.create(name="h", channel="webhook", url=hanging.url, secret=SECRET)
    rule("new_problem")
    make("failed_forward")
    w = Worker(heartbeat=False, poll_interval=0.05, lease_seconds=30, alerts=True)
    done = threading.Event()
    runner = threading.Thread(target=w.run, kwargs={"until": done.is_set})
    runner.start()
    try:
        wait_for(_delivery_attempted, 10, "the delivery thread to be sending")
        sagas = [start("ledger", {"n": i}) for i in range(20)]
        took = wait_for(
            lambda: (
                not SagaInstance.objects.filter(
                    id__in=[s.id for s in sagas], status__in=ACTIVE_STATUSES
                ).exists()
            ),
            10,
            "the sagas to finish",
        )
        assert took < 5  # far below the receiver's 30 s hang
        assert (
            SagaInstance.objects.filter(id__in=[s.id for s in sagas], status="completed").count()
            == 20
        )
        assert AlertDelivery.objects.get().status == "pending"  # stuck, not delivered
    finally:
        done.set()
        runner.join(15)
        hanging.stop()
    assert not runner.is_alive()


def _delivery_attempted() -> bool:
    return AlertDelivery.objects.filter(leased_until__isnull=False).exists()


def test_a_destination_that_fails_in_a_round_is_not_tried_again_in_it(repairable, rule):
    with Receiver().start() as closed:
        port = closed.port
    AlertDestination.objects.create(
        name="down", channel="webhook", url=f"http://127.0.0.1:{port}/", secret=SECRET
    )
    rule("new_problem")
    rule("failure_burst", params={"count": 0, "minutes": 5})
    make("failed_forward")
    assert evaluate() == 2
    assert deliver.work() == 2
    tried, held_back = AlertDelivery.objects.order_by("id")
    assert (tried.attempts, held_back.attempts) == (1, 0)
    assert held_back.next_try_at == tried.next_try_at and held_back.leased_until is None
