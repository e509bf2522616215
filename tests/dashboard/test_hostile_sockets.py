"""The live sockets under hostile clients: frames no page sends, floods, and connections
from where no staff page is. The socket stays up, answers with error frames, does bounded
work, and holds no more state than one well-behaved page would."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.live import listfeed
from dashboard.live.budget import FrameBudget
from tests.factories import start
from tests.sockets import communicator, run

# Live sockets: channels' database_sync_to_async closes the test's connection
# (close_old_connections), and with it a test-wide transaction.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20  # seconds a frame may take on a busy machine; a bound, not a measurement
FLOOD = 1000


async def opened(path, user):
    ws = communicator(path, user)
    assert (await ws.connect(timeout=WAIT))[0]
    await ws.receive_json_from(timeout=WAIT)  # the snapshot
    return ws


async def drain(ws) -> list[dict]:
    """Every frame the server sent until it went quiet."""
    frames = []
    while not await ws.receive_nothing(timeout=0.3):
        frames.append(await ws.receive_json_from(timeout=WAIT))
    return frames


GARBAGE = [
    ('{"type": 5}', "bad_json"),
    ('{"type": null}', "bad_json"),
    ("17", "bad_json"),
    ('"ping"', "bad_json"),
    (" ", "bad_json"),
    ("\x00\x01\x02", "bad_json"),
    ("[" * 3000, "bad_json"),  # deeper than json.loads recurses: was a "server" error
    (
        '{"type": "ping", "a": [' + ", ".join(['{"b": [1, 2, {"c": null}]}'] * 200) + "]}",
        "too_large",
    ),
    ("x" * 1_000_000, "too_large"),
    ("é" * 3000, "too_large"),  # 3,000 characters, 6,000 bytes
    ('{"type": "replay", "after": true}', "bad_frame"),
    ('{"type": "replay", "after": 1.5}', "bad_frame"),
    ('{"type": "replay", "after": 1e400}', "bad_frame"),
    ('{"type": "replay", "after": 99999999999999999999999}', "bad_frame"),  # past 64 bits
    ('{"type": "replay"}', "bad_frame"),
    ('{"type": "subscribe", "saga": "*"}', "unknown_type"),
    ('{"type": "__proto__"}', "unknown_type"),
]


@pytest.mark.parametrize("path", ["/ws/sagas/", "detail"])
def test_garbage_and_huge_frames_get_error_frames_and_the_socket_stays_up(path, operator):
    saga = start("ledger", {})
    if path == "detail":
        path = f"/ws/sagas/{saga.id}/"

    async def scenario():
        ws = await opened(path, operator)
        for text, code in GARBAGE:
            await ws.send_to(text_data=text)
            frame = await ws.receive_json_from(timeout=WAIT)
            assert (frame["type"], frame["code"]) == ("error", code), text[:60]
        await ws.send_to(bytes_data=b"\xff" * 100_000)
        assert (await ws.receive_json_from(timeout=WAIT))["code"] == "bad_json"
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from(timeout=WAIT) == {"type": "pong"}
        await ws.disconnect()

    run(scenario)


@pytest.fixture
def budget(settings):
    # No refill while the flood arrives: counts are exact, whatever the machine's speed.
    settings.SAGASCOPE_LIVE_FRAME_BURST = 20
    settings.SAGASCOPE_LIVE_FRAMES_PER_SECOND = 0.001
    return 20


def test_a_flood_of_replays_does_bounded_work(operator, budget):
    saga = start("ledger", {})
    reads: list[int] = []

    # Counted on this thread, where the consumer's reads run (`connection` is per thread).
    counted = database_sync_to_async(lambda: len(queries))

    async def scenario():
        ws = await opened(f"/ws/sagas/{saga.id}/", operator)
        before = await counted()
        for _ in range(FLOOD):
            await ws.send_json_to({"type": "replay", "after": 0})
        answered = await drain(ws)
        reads.append(await counted() - before)
        replays = [f for f in answered if f["type"] == "update"]
        limited = [f for f in answered if f.get("code") == "rate_limited"]
        # The burst is answered, the rest dropped unread with one notice: not 1,000 reads.
        assert len(replays) == budget
        assert len(limited) == 1 and "slow down" in limited[0]["error"].lower()
        await ws.disconnect()

    # Outside the scenario: the consumer's reads run on this thread's connection.
    with CaptureQueriesContext(connection) as queries:
        run(scenario)
    # A replay re-reads the session and the user, then the saga, its events, its attempts.
    assert 0 < reads[0] <= budget * 5, reads


def test_the_frame_budget_refills_so_a_calm_client_is_served_again():
    now = [0.0]
    budget = FrameBudget(burst=3, per_second=2.0, clock=lambda: now[0])
    assert [budget.spend() for _ in range(5)] == [True, True, True, False, False]
    now[0] += 0.5  # one frame's worth
    assert [budget.spend(), budget.spend()] == [True, False]
    now[0] += 60  # never more than the burst, however long the quiet
    assert sum(budget.spend() for _ in range(10)) == 3


def test_a_flood_of_subscribe_frames_leaves_one_subscription_and_bounded_memory(operator, budget):
    async def scenario():
        ws = await opened("/ws/sagas/?status=running", operator)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(FLOOD):
            await ws.send_to(text_data=json.dumps({"type": "subscribe", "status": f"s{n}"}))
        answered = await drain(ws)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        codes = [f["code"] for f in answered]
        assert codes == ["unknown_type"] * budget + ["rate_limited"]
        # One feed, this one socket: a frame can never add a subscription.
        assert [len(feed.sockets) for feed in listfeed._feeds.values()] == [1]
        assert grown < 2_000_000, grown  # nothing kept per frame
        new = await database_sync_to_async(start)("ledger", {})
        frame = await ws.receive_json_from(timeout=WAIT)  # still live after the flood
        assert [r["id"] for r in frame["sagas"]] == [str(new.id)]
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.1.evil.example",  # our host as a prefix of theirs
        "http://evil.example/?http://127.0.0.1",
        "null",  # a sandboxed iframe or a file:// page
        "",
    ],
)
def test_the_detail_socket_refuses_other_origins_and_anonymous_users(origin, operator, visitor):
    saga = start("ledger", {})
    path = f"/ws/sagas/{saga.id}/"

    async def scenario():
        for ws in (
            communicator(path, operator, origin=origin),
            communicator(path),
            communicator(path, visitor),
        ):
            connected, code = await ws.connect(timeout=WAIT)
            assert not connected, (origin, code)

    run(scenario)


@pytest.mark.parametrize(
    "query",
    ["after=99999999999999999999999", "q=%00", "after=-1", "after=1e3", "status=%ff"],
)
def test_a_hostile_query_string_is_refused_with_a_frame_not_a_crash(query, operator):
    async def scenario():
        ws = communicator(f"/ws/sagas/?{query}", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        frame = await ws.receive_json_from(timeout=WAIT)
        assert (frame["type"], frame["code"]) == ("error", "bad_request")
        assert (await ws.receive_output(timeout=WAIT))["code"] == 4400

    run(scenario)
