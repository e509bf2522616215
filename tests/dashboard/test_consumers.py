"""The live sockets, through the whole ASGI application: who may connect, the snapshot then
the changes, replay after the last event id, and frames the server will not take."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.db.models import F
from django.utils import timezone

from dashboard.live.broadcast import FEED_GROUP, FEED_MESSAGE, saga_group
from sagas.models import SagaEvent, SagaInstance
from tests.factories import settle, start, worker
from tests.sockets import communicator, run

# The subject is the push a commit sends to live sockets, from a running worker.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20  # seconds a frame may take on a busy machine; a bound, not a measurement


async def frames_until(ws, done, limit=200):
    """Frames until `done(frame)` is true; fails (by timeout) if it never is. The list's
    "count" frames come in between at their own pace (test_list_count.py): skipped."""
    seen = []
    for _ in range(limit):
        frame = await ws.receive_json_from(timeout=WAIT)
        if frame.get("type") == "count":
            continue
        seen.append(frame)
        if done(frame):
            return seen
    raise AssertionError(f"no frame satisfied the condition in {limit}: {seen[-3:]}")


def event_ids(saga):
    return list(SagaEvent.objects.filter(saga=saga).order_by("id").values_list("id", flat=True))


@pytest.mark.parametrize("path", ["/ws/overview/", "/ws/sagas/", "/ws/outbox/"])
def test_anonymous_non_staff_and_cross_origin_connections_are_refused(path, operator, visitor):
    async def scenario():
        for ws in (
            communicator(path),  # no session
            communicator(path, visitor),  # logged in, not staff
            communicator(path, operator, origin="http://evil.example"),  # another site's page
            communicator(path, operator, origin=None),  # no Origin at all
        ):
            connected, _ = await ws.connect(timeout=WAIT)
            assert not connected
        ws = communicator(path, operator)
        connected, _ = await ws.connect(timeout=WAIT)
        assert connected
        await ws.disconnect()

    run(scenario)


def test_detail_sends_a_snapshot_then_every_change_in_order(operator):
    saga = start("ledger", {})

    async def scenario():
        ws = communicator(f"/ws/sagas/{saga.id}/", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert snapshot["type"] == "snapshot"
        assert snapshot["saga"]["status"] == "running"
        assert [e["type"] for e in snapshot["events"]] == ["saga_started"]
        await database_sync_to_async(settle)(worker())
        updates = await frames_until(ws, lambda f: f["saga"]["status"] == "completed")
        assert {f["type"] for f in updates} == {"update"}
        received = [e["id"] for f in [snapshot, *updates] for e in f["events"]]
        assert received == await database_sync_to_async(event_ids)(saga)  # all, once, in order
        attempts = {a["id"]: a for f in updates for a in f["attempts"]}
        assert sorted(a["name"] for a in attempts.values()) == ["a", "b", "c", "d"]
        assert {a["status"] for a in attempts.values()} == {"succeeded"}
        await ws.disconnect()

    run(scenario)


def test_detail_replays_the_events_after_the_last_id_seen(operator):
    saga = start("ledger", {"fail_at": "c"})
    settle(worker())
    ids = event_ids(saga)
    seen = ids[3]

    async def scenario():
        ws = communicator(f"/ws/sagas/{saga.id}/?after={seen}", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert [e["id"] for e in snapshot["events"]] == ids[4:]
        assert snapshot["saga"]["status"] == "compensated"
        assert snapshot["last_event_id"] == ids[-1]
        # The same, asked for on an open socket.
        await ws.send_json_to({"type": "replay", "after": ids[-3]})
        replay = await ws.receive_json_from(timeout=WAIT)
        assert [e["id"] for e in replay["events"]] == ids[-2:]
        await ws.disconnect()

    run(scenario)


def test_an_unknown_saga_or_bad_after_is_an_error_frame_then_close(operator):
    async def scenario():
        ws = communicator("/ws/sagas/00000000-0000-0000-0000-000000000000/", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        frame = await ws.receive_json_from(timeout=WAIT)
        assert frame["code"] == "not_found"
        assert (await ws.receive_output(timeout=WAIT))["type"] == "websocket.close"
        ws = communicator("/ws/sagas/?status=sleeping", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        frame = await ws.receive_json_from(timeout=WAIT)
        assert frame["code"] == "bad_request" and "status" in frame["error"]

    run(scenario)


def test_list_feed_sends_rows_then_new_sagas_and_status_changes(operator):
    old = start("ledger", {}, correlation_id="before")

    async def scenario():
        ws = communicator("/ws/sagas/", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert [r["id"] for r in snapshot["rows"]] == [str(old.id)]
        new = await database_sync_to_async(start)("ledger", {}, correlation_id="after")
        frames = await frames_until(ws, lambda f: str(new.id) in {r["id"] for r in f["sagas"]})
        row = next(r for r in frames[-1]["sagas"] if r["id"] == str(new.id))
        assert (row["status"], row["correlation_id"], row["type"]) == ("running", "after", "ledger")
        await database_sync_to_async(settle)(worker())
        done = {str(old.id), str(new.id)}
        finished: set[str] = set()
        await frames_until(
            ws,
            lambda f: (
                not finished.update(r["id"] for r in f["sagas"] if r["status"] == "completed")
                and finished == done
            ),
        )
        await ws.disconnect()

    run(scenario)


def test_list_feed_sends_only_rows_matching_its_filters(operator):
    async def scenario():
        ws = communicator("/ws/sagas/?status=compensated", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        assert (await ws.receive_json_from(timeout=WAIT))["rows"] == []
        kept = await database_sync_to_async(start)("ledger", {"fail_at": "b"})
        await database_sync_to_async(start)("ledger", {})
        await database_sync_to_async(settle)(worker())
        frames = await frames_until(ws, lambda f: any(r["id"] == str(kept.id) for r in f["sagas"]))
        assert {r["status"] for f in frames for r in f["sagas"]} == {"compensated"}
        while not await ws.receive_nothing(timeout=0.5):  # nothing more but a count
            assert (await ws.receive_json_from(timeout=WAIT))["type"] == "count"
        await ws.disconnect()

    run(scenario)


def test_list_feed_replays_sagas_changed_after_the_last_id(operator):
    first = start("ledger", {})
    seen = SagaEvent.objects.latest("id").id
    second = start("ledger", {})
    settle(worker())

    async def scenario():
        ws = communicator(f"/ws/sagas/?after={seen}", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        changed = {r["id"]: r["status"] for r in snapshot["changed"]}
        assert changed == {str(first.id): "completed", str(second.id): "completed"}
        assert (
            snapshot["last_event_id"]
            == await database_sync_to_async(lambda: SagaEvent.objects.latest("id").id)()
        )
        await ws.disconnect()

    run(scenario)


def test_list_feed_coalesces_a_burst_into_few_frames(operator, settings):
    settings.SAGASCOPE_LIVE_COALESCE_SECONDS = 1.0

    async def scenario():
        ws = communicator("/ws/sagas/", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.receive_json_from(timeout=WAIT)
        layer = get_channel_layer()
        # Fewer than the in-memory layer holds per channel (100), so none is dropped.
        rows = [
            {
                "id": f"00000000-0000-0000-0000-{n:012d}",
                "type": "ledger",
                "status": "running",
                "correlation_id": "",
                "version": 2,
                "current_step": "a",
                "phase": "forward",
                "reason": "",
                "created_at": "2030-01-01T00:00:00+00:00",
                "updated_at": "2030-01-01T00:00:00+00:00",
                "finished_at": None,
                "event_id": n,
            }
            for n in range(1, 91)
        ]
        for row in rows:
            await layer.group_send(FEED_GROUP, {"type": FEED_MESSAGE, "sagas": [row]})
        received: set[str] = set()
        frames = await frames_until(
            ws,
            lambda f: not received.update(r["id"] for r in f["sagas"]) and len(received) == 90,
        )
        assert len(frames) < 10  # 90 hints, a handful of frames
        assert frames[-1]["last_event_id"] == 90
        await ws.disconnect()

    run(scenario)


def test_overview_sends_figures_then_fresh_ones_when_sagas_change(operator, settings):
    settings.SAGASCOPE_OVERVIEW_REFRESH_SECONDS = 0

    async def scenario():
        ws = communicator("/ws/overview/", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        first = await ws.receive_json_from(timeout=WAIT)
        assert first["type"] == "overview" and first["total"] == 0
        await database_sync_to_async(start)("ledger", {"fail_at": "a"})
        await database_sync_to_async(settle)(worker())
        frames = await frames_until(ws, lambda f: f["counts"]["compensated"] == 1)
        assert frames[-1]["total"] == 1
        await ws.disconnect()

    run(scenario)


BAD_FRAMES = [
    ("not json at all", "bad_json"),
    ('["a list"]', "bad_json"),
    ('{"no": "type"}', "bad_json"),
    (json.dumps({"type": "ping", "pad": "x" * 5000}), "too_large"),
    ('{"type": "start_saga", "saga": "order"}', "unknown_type"),
    ('{"type": "replay", "after": "yesterday"}', "bad_frame"),
    ('{"type": "replay", "after": -1}', "bad_frame"),
]


@pytest.mark.parametrize("path", ["/ws/sagas/", "/ws/overview/", "/ws/outbox/", "detail"])
def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(path, operator):
    saga = start("ledger", {})
    if path == "detail":
        path = f"/ws/sagas/{saga.id}/"

    async def scenario():
        ws = communicator(path, operator)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.receive_json_from(timeout=WAIT)
        for text, code in BAD_FRAMES:
            await ws.send_to(text_data=text)
            frame = await ws.receive_json_from(timeout=WAIT)
            assert (frame["type"], frame["code"]) == ("error", code), text
        await ws.send_to(bytes_data=b"\x00\x01")
        assert (await ws.receive_json_from(timeout=WAIT))["code"] == "bad_json"
        await ws.send_json_to({"type": "ping"})
        assert (await ws.receive_json_from(timeout=WAIT)) == {"type": "pong"}
        await ws.disconnect()

    run(scenario)


def test_many_sockets_in_one_process_share_one_feed_subscription(operator):
    async def scenario():
        sockets = [communicator("/ws/sagas/", operator) for _ in range(3)]
        sockets.append(communicator("/ws/overview/", operator))
        for ws in sockets:
            assert (await ws.connect(timeout=WAIT))[0]
            await ws.receive_json_from(timeout=WAIT)
        layer = get_channel_layer()
        assert len(layer.groups[FEED_GROUP]) == 1  # not one member per browser
        saga = await database_sync_to_async(start)("ledger", {})
        for ws in sockets[:3]:
            await frames_until(ws, lambda f: str(saga.id) in {r["id"] for r in f["sagas"]})
        for ws in sockets:
            await ws.disconnect()

    run(scenario)


def test_a_saga_that_changes_while_its_frame_is_read_is_never_left_stale(operator):
    """The worker may commit between the feed's reads of the saga and of its events. The
    frame must then hold a saga no older than its last event id, or the hint for that event
    is dropped as already seen and the page shows the old status for ever (the browser
    test's saga stuck at "compensating" on the page while it had failed)."""
    saga = start("ledger", {})
    SagaInstance.objects.filter(id=saga.id).update(status="compensating", phase="compensation")
    finished: list[int] = []

    def commit_mid_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        reads_saga = sql.lstrip().upper().startswith("SELECT") and '"status"' in sql
        if not finished and reads_saga and "sagas_sagainstance" in sql.split("WHERE")[0]:
            finished.append(0)  # once: the worker's commit lands right after this read
            SagaInstance.objects.filter(id=saga.id).update(
                status="failed", version=F("version") + 1
            )
            finished[0] = SagaEvent.objects.create(
                saga_id=saga.id,
                type="saga_failed",
                status="failed",
                version=9,
                created_at=timezone.now(),
            ).id
        return result

    async def scenario():
        ws = communicator(f"/ws/sagas/{saga.id}/", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert finished, "the commit never landed mid-read"
        if snapshot["last_event_id"] >= finished[0]:
            assert snapshot["saga"]["status"] == "failed", snapshot
            return await ws.disconnect()
        # The frame predates the event: the event's hint brings the new status.
        hint = {"type": "saga.changed", "event_id": finished[0]}
        await get_channel_layer().group_send(saga_group(saga.id), hint)
        update = await ws.receive_json_from(timeout=WAIT)
        assert update["saga"]["status"] == "failed", update
        await ws.disconnect()

    with connection.execute_wrapper(commit_mid_read):
        run(scenario)
