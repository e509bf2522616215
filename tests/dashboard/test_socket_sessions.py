"""A live socket lasts no longer than the staff session that opened it: logging out closes
that session's sockets at once, and a socket whose session or staff rights are gone is
closed at the next frame it sends, with 4403 (final for the page) and no data."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from tests.factories import start
from tests.sockets import communicator, run, session_cookie

# Live sockets: channels' database_sync_to_async closes the test's connection
# (close_old_connections), and with it a test-wide transaction.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20
CLOSED = {"type": "websocket.close", "code": 4403}


async def opened(path, user, session=None):
    ws = communicator(path, user)
    if session is not None:  # another login of the same user
        ws.scope["headers"] = [
            (k, f"sessionid={session}".encode() if k == b"cookie" else v)
            for k, v in ws.scope["headers"]
        ]
    assert (await ws.connect(timeout=WAIT))[0]
    await ws.receive_json_from(timeout=WAIT)  # the snapshot
    return ws


async def refused(ws) -> None:
    """The socket says why, then closes with 4403; nothing else comes first."""
    frame = await ws.receive_json_from(timeout=WAIT)
    assert (frame["type"], frame["code"]) == ("error", "forbidden"), frame
    assert "log in" in frame["error"]
    assert await ws.receive_output(timeout=WAIT) == CLOSED


def paths(saga) -> list[str]:
    return ["/ws/sagas/", f"/ws/sagas/{saga.id}/", "/ws/overview/", "/ws/outbox/"]


def test_logging_out_closes_that_sessions_sockets_at_once(operator):
    saga = start("ledger", {})
    browser = Client()
    browser.cookies["sessionid"] = operator._test_session
    elsewhere = session_cookie(operator)  # the same operator, logged in on another machine

    async def scenario():
        sockets = [await opened(path, operator) for path in paths(saga)]
        other = await opened("/ws/sagas/", operator, session=elsewhere)
        response = await database_sync_to_async(browser.post)("/logout/")
        assert response.status_code == 302
        for ws in sockets:
            await refused(ws)
        # The other login is still valid: its socket stays, and answers.
        assert await other.receive_nothing(timeout=0.5)
        await other.send_json_to({"type": "ping"})
        assert await other.receive_json_from(timeout=WAIT) == {"type": "pong"}
        await other.disconnect()

    run(scenario)


def end_session(user) -> None:
    Session.objects.filter(session_key=user._test_session).delete()


def no_longer_staff(user) -> None:
    get_user_model().objects.filter(pk=user.pk).update(is_staff=False)  # no signal sent


def deactivated(user) -> None:
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)


def password_changed(user) -> None:
    # A new password ends every session made with the old one (the session's auth hash).
    get_user_model().objects.filter(pk=user.pk).update(password="md5$other$0123")


@pytest.mark.parametrize("revoke", [end_session, no_longer_staff, deactivated, password_changed])
@pytest.mark.parametrize("frame", ["replay", "ping"])
def test_a_socket_whose_access_ended_is_closed_at_its_next_frame(revoke, frame, operator):
    saga = start("ledger", {})

    async def scenario():
        sockets = {path: await opened(path, operator) for path in paths(saga)[:2]}
        await database_sync_to_async(revoke)(operator)
        for ws in sockets.values():
            await ws.send_json_to({"type": frame, "after": 0})
            await refused(ws)  # no replay, no pong

    run(scenario)


def test_taking_staff_away_closes_the_users_sockets_without_waiting_for_a_frame(operator):
    saga = start("ledger", {})

    async def scenario():
        ws = await opened(f"/ws/sagas/{saga.id}/", operator)

        def demote():
            user = get_user_model().objects.get(pk=operator.pk)
            user.is_staff = False
            user.save()

        await database_sync_to_async(demote)()
        await refused(ws)

    run(scenario)


def test_a_socket_still_staff_keeps_being_served(operator):
    saga = start("ledger", {})

    async def scenario():
        ws = await opened(f"/ws/sagas/{saga.id}/", operator)
        for _ in range(3):
            await ws.send_json_to({"type": "ping"})
            assert await ws.receive_json_from(timeout=WAIT) == {"type": "pong"}
        await ws.send_json_to({"type": "replay", "after": 0})
        assert (await ws.receive_json_from(timeout=WAIT))["type"] == "update"
        await ws.disconnect()

    run(scenario)
