"""The broadcaster: committed events become channel-layer messages, and a push that fails
(the layer down, the message unbuildable) never fails the saga that committed them."""

from __future__ import annotations

import os
import socket
import time
import uuid
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dashboard.live import broadcast
from dashboard.live.publisher import Publisher, publisher
from sagas.models import SagaEvent, SagaInstance
from tests.factories import settle, start, worker

# The subject is the push a commit sends, from a running worker.
pytestmark = pytest.mark.django_db(transaction=True)


def test_events_are_pushed_after_their_transaction_commits():
    with mock.patch.object(publisher, "publish") as publish:
        saga = start("ledger", {})
    (messages,), _ = publish.call_args
    assert messages[1] == (
        broadcast.saga_group(saga.id),
        mock.ANY,
    )
    assert messages[1][1]["event_id"] == SagaEvent.objects.get(saga=saga).id


def test_a_committed_batch_becomes_one_feed_message_and_one_hint_per_saga():
    first, second = start("ledger", {}, correlation_id="c-1"), start("ledger", {})
    events = list(SagaEvent.objects.order_by("id"))
    messages = broadcast.messages_for(events)
    groups = [group for group, _ in messages]
    assert groups == [
        broadcast.FEED_GROUP,
        broadcast.saga_group(first.id),
        broadcast.saga_group(second.id),
    ]
    feed = messages[0][1]
    assert feed["type"] == "sagas.changed"
    rows = {row["id"]: row for row in feed["sagas"]}
    assert rows[str(first.id)]["correlation_id"] == "c-1"
    assert rows[str(first.id)]["event_id"] == events[0].id
    assert rows[str(second.id)]["status"] == "running"
    assert messages[2][1] == {
        "type": "saga.changed",
        "saga": str(second.id),
        "event_id": events[1].id,
        "committed_at": feed["committed_at"],
    }


def test_the_rows_a_commit_wrote_are_pushed_as_written_without_reading_them_back(
    django_assert_num_queries,
):
    saga = start("ledger", {}, correlation_id="c-2")
    events = list(SagaEvent.objects.filter(saga=saga))
    read_back = broadcast.messages_for(events)[0][1]["sagas"]
    written = SagaInstance.objects.get(id=saga.id)
    with django_assert_num_queries(0):  # a worker's commit pays no query for its push
        as_written = broadcast.messages_for(events, [written])[0][1]["sagas"]
    strip = [{k: v for k, v in row.items() if k != "committed_at"} for row in read_back]
    assert [{k: v for k, v in row.items() if k != "committed_at"} for row in as_written] == strip
    # A row missing a field the list shows is read back instead, not half shown.
    partial = SagaInstance.objects.only("id").get(id=saga.id)
    with django_assert_num_queries(1):
        assert broadcast.messages_for(events, [partial])[0][1]["sagas"][0]["status"] == "running"


def test_a_saga_completes_when_every_push_fails(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens there: every publish fails to connect.
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{closed_port()}/0"]},
        }
    }
    failures = publisher.failures
    saga = start("ledger", {"fail_at": "c"})
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == "compensated"
    deadline = time.monotonic() + 30
    while publisher.failures == failures and time.monotonic() < deadline:
        time.sleep(0.1)
    assert publisher.failures > failures  # it did try, and said so in the log


def test_a_saga_completes_when_building_the_push_raises():
    with mock.patch.object(broadcast, "messages_for", side_effect=RuntimeError("boom")):
        saga = start("ledger", {})
        settle(worker())
    saga.refresh_from_db()
    assert saga.status == "completed"


def test_in_memory_pushes_without_a_serving_loop_are_dropped_quietly():
    quiet = Publisher()
    quiet.publish([(broadcast.FEED_GROUP, {"type": "sagas.changed", "sagas": []})])
    assert quiet.failures == 0


def redis_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Redis on 127.0.0.1:6379 (.ci/run starts it)")
        pytest.skip("no Redis on 127.0.0.1:6379")


def test_through_redis_a_push_from_a_thread_without_a_loop_reaches_a_group(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url()], "prefix": f"test-{uuid.uuid4().hex[:8]}"},
        }
    }

    async def listen_then_receive():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("sagascope.test", channel)
        # The worker's side: a plain thread with no event loop, as in run_worker.
        Publisher().publish([("sagascope.test", {"type": "hello", "n": 1})])
        try:
            return await layer.receive(channel)
        finally:
            await layer.group_discard("sagascope.test", channel)

    assert async_to_sync(listen_then_receive)() == {"type": "hello", "n": 1}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
