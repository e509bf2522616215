"""A saga list row is rendered once, by the server: the row a live frame carries is the row
the page itself shows, tick box included only for those who may run bulk actions."""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from tests.factories import start
from tests.sockets import communicator, run, session_cookie

# Live sockets: channels' database_sync_to_async closes the test's connection
# (close_old_connections), and the pushed row is sent on commit.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20  # seconds a frame may take on a busy machine; a bound, not a measurement
XSS = "<script>alert('xss')</script>"


def markup(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


def page_row(user, saga_id: str) -> str:
    client = Client()
    client.force_login(user)
    html = client.get(reverse("saga-list")).content.decode()
    found = re.search(rf'<tr data-id="{saga_id}".*?</tr>', html, re.S)
    assert found, f"saga {saga_id} is not on the page"
    return markup(found.group(0))


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw-viewer", is_staff=True)
    user._test_session = session_cookie(user)
    return user


@pytest.mark.parametrize("who", ["operator", "viewer"])
def test_live_rows_are_the_rows_the_page_renders(who, request):
    user = request.getfixturevalue(who)
    start("ledger", {}, correlation_id=XSS)
    may_bulk = who == "operator"  # a superuser; the viewer holds no permission

    async def scenario():
        ws = communicator("/ws/sagas/", user)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        (row,) = snapshot["rows"]
        assert markup(row["html"]) == await database_sync_to_async(page_row)(user, row["id"])
        assert "&lt;script&gt;" in row["html"] and "<script>" not in row["html"]
        second = await database_sync_to_async(start)("ledger", {}, correlation_id="second")
        frame = await ws.receive_json_from(timeout=WAIT)
        (pushed,) = frame["sagas"]
        assert pushed["id"] == str(second.id)
        assert markup(pushed["html"]) == await database_sync_to_async(page_row)(user, pushed["id"])
        for html in (row["html"], pushed["html"]):
            assert ('name="ids"' in html) == may_bulk
        await ws.disconnect()

    run(scenario)
