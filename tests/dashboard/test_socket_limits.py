"""What one user's live sockets may cost everyone else: a bounded number of sockets per
user, and a list replay from far behind answered "reload" without reading the event table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sagas.models import SagaEvent
from tests.factories import start
from tests.sockets import communicator, run, session_cookie

# Live sockets: channels' database_sync_to_async closes the test's connection
# (close_old_connections), and with it a test-wide transaction.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20
WINDOW = 10_000  # the default SAGASCOPE_LIVE_REPLAY_WINDOW


@pytest.fixture
def other_operator(django_user_model):
    user = django_user_model.objects.create_user("second", password="pw-second", is_staff=True)
    user._test_session = session_cookie(user)
    return user


def test_a_user_may_hold_eight_live_sockets_per_process(operator, other_operator):
    async def scenario():
        sockets = []
        for _ in range(8):
            ws = communicator("/ws/outbox/", operator)
            assert (await ws.connect(timeout=WAIT))[0]
            await ws.receive_json_from(timeout=WAIT)
            sockets.append(ws)
        ninth = communicator("/ws/sagas/", operator)
        assert (await ninth.connect(timeout=WAIT))[0]
        frame = await ninth.receive_json_from(timeout=WAIT)
        assert (frame["type"], frame["code"]) == ("error", "too_many_sockets")
        assert "8" in frame["error"] and "close" in frame["error"]
        assert await ninth.receive_output(timeout=WAIT) == {"type": "websocket.close", "code": 4429}
        # Another operator is not held back by this one.
        theirs = communicator("/ws/sagas/", other_operator)
        assert (await theirs.connect(timeout=WAIT))[0]
        assert (await theirs.receive_json_from(timeout=WAIT))["type"] == "snapshot"
        # A closed page gives its place back.
        await sockets.pop().disconnect()
        again = communicator("/ws/sagas/", operator)
        assert (await again.connect(timeout=WAIT))[0]
        assert (await again.receive_json_from(timeout=WAIT))["type"] == "snapshot"
        for ws in [*sockets, theirs, again]:
            await ws.disconnect()

    run(scenario)


def test_the_cap_is_a_setting(operator, settings):
    settings.SAGASCOPE_LIVE_SOCKETS_PER_USER = 1

    async def scenario():
        first = communicator("/ws/outbox/", operator)
        assert (await first.connect(timeout=WAIT))[0]
        await first.receive_json_from(timeout=WAIT)
        second = communicator("/ws/outbox/", operator)
        assert (await second.connect(timeout=WAIT))[0]
        assert (await second.receive_json_from(timeout=WAIT))["code"] == "too_many_sockets"
        await first.disconnect()

    run(scenario)


def many_events(count: int) -> list[int]:
    sagas = [start("ledger", {}) for _ in range(3)]
    now = timezone.now()
    SagaEvent.objects.bulk_create(
        [
            SagaEvent(saga=sagas[n % 3], type="saga_started", version=1, created_at=now)
            for n in range(count)
        ],
        batch_size=2000,
    )
    return list(SagaEvent.objects.order_by("-id").values_list("id", flat=True)[:5])


def grouped_event_reads(queries) -> list[str]:
    table = SagaEvent._meta.db_table
    return [q["sql"] for q in queries if table in q["sql"] and "GROUP BY" in q["sql"]]


def test_a_list_replay_from_far_behind_is_told_to_reload_without_reading_events(operator):
    newest = many_events(WINDOW + 50)[0]
    frames: list[dict] = []

    async def scenario():
        ws = communicator("/ws/sagas/?after=0", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        frames.append(await ws.receive_json_from(timeout=WAIT))
        await ws.send_json_to({"type": "replay", "after": 0})
        frames.append(await ws.receive_json_from(timeout=WAIT))
        await ws.disconnect()

    with CaptureQueriesContext(connection) as queries:  # the consumer reads on this thread
        run(scenario)
    for frame in frames:
        assert frame["type"] == "snapshot"
        assert frame["behind"] is True and frame["changed"] == []
        assert frame["last_event_id"] == newest
    assert grouped_event_reads(queries) == []


def test_a_list_replay_within_the_window_still_sends_what_changed(operator):
    recent = many_events(50)[4]
    frames: list[dict] = []

    async def scenario():
        ws = communicator(f"/ws/sagas/?after={recent}", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        frames.append(await ws.receive_json_from(timeout=WAIT))
        await ws.disconnect()

    with CaptureQueriesContext(connection) as queries:
        run(scenario)
    assert frames[0]["behind"] is False and len(frames[0]["changed"]) == 3
    assert len(grouped_event_reads(queries)) == 1  # so the check above would see a scan
