"""What refuses a replayed or duplicate message outlives the sagas: the reply's message id
(kept SAGASCOPE_REPLAY_KEYS_DAYS, 7 days, after the saga is pruned) and the participant's
inbox key (never pruned by retention). Past 7 days a replayed signed reply is refused by
its timestamp (a 300 s window)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client

from sagas.definition import Saga, Step
from sagas.demo.models import Payment
from sagas.demo.participants import payment
from sagas.messaging import signing
from sagas.models import OutboxMessage, ProcessedMessage, SagaInstance
from sagas.registry import registry
from sagas.services import retention
from tests.factories import start, worker

pytestmark = pytest.mark.django_db(transaction=True)


class Remote(Saga):
    name = "remote"
    register = False
    steps = [
        Step("pay", command="payment.charge", payload=lambda ctx: {"amount": ctx.input["amount"]})
    ]


@pytest.fixture(autouse=True)
def remote_saga(settings):
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "s3cret"}
    settings.SAGASCOPE_RETENTION = {"*": {"completed": 0}}  # the 15-minute floor
    with registry.override(Remote):
        yield


def post(client: Client, body: bytes, headers: dict[str, str]):
    return client.post(
        "/api/replies",
        body,
        content_type="application/json",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    )


def test_a_reply_and_a_command_replayed_after_their_saga_is_pruned_are_refused():
    saga = start("remote", {"amount": 10})
    worker().tick()
    sent = OutboxMessage.objects.get(saga=saga, kind="command")
    command = {"headers": sent.headers, "body": sent.body}
    reply = payment.handle(command)
    body = json.dumps(reply).encode()
    headers = signing.sign("s3cret", body, "payment")  # captured: what a replay would send
    client = Client()
    assert post(client, body, headers).status_code == 202
    worker().tick()
    saga.refresh_from_db()
    assert saga.status == "completed"

    summary = retention.prune(saga.finished_at + timedelta(minutes=16))
    assert summary.sagas == 1 and summary.reply_keys == 0
    assert not SagaInstance.objects.exists()
    replayed = post(client, body, headers)
    assert replayed.status_code == 409 and "already received" in replayed.json()["detail"]
    again = payment.handle(command)  # the command, replayed to the participant
    assert again["headers"]["duplicate"] is True and again["body"] == reply["body"]
    assert Payment.objects.count() == 1

    # A week on, the reply's key goes; a replay of that reply is refused by its timestamp.
    assert retention.prune(saga.finished_at + timedelta(days=8)).reply_keys == 1
    assert ProcessedMessage.objects.filter(consumer="payment").exists()  # kept
    with pytest.raises(signing.Replayed):
        signing.verify(
            "s3cret",
            body,
            headers[signing.TIMESTAMP],
            headers[signing.SIGNATURE],
            now=time.time() + 8 * 86400,
        )
