"""A step's traceback names server paths and code, so the detail page and its socket send
it only to users with the view_traceback permission; read-only staff see that it is hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

import tests.testapp.sagas
from sagas.models import StepAttempt
from tests.factories import start
from tests.sockets import communicator, run, session_cookie
from tests.states import outcome_of, ran

pytestmark = pytest.mark.django_db
# A live socket: channels' database_sync_to_async closes the test's connection.
LIVE = pytest.mark.django_db(transaction=True)

WAIT = 20
# Where the crashing step's code lives on this server: what a traceback gives away.
SERVER_PATH = str(Path(tests.testapp.sagas.__file__).resolve())
HIDDEN = "traceback hidden: needs the view_traceback permission"


@pytest.fixture
def crashed():
    """A saga whose step crashed (a bug, not a business refusal): real tracebacks."""
    saga = start("ledger", {"sleep": "not a number"})
    ran(saga, failing={"a": outcome_of(saga, "a")})  # the step's own code crashes
    tracebacks = StepAttempt.objects.filter(saga=saga).values_list("error_traceback", flat=True)
    assert tracebacks and all(SERVER_PATH in t for t in tracebacks)
    return saga


def staff_user(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, password=f"pw-{name}", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    user._test_session = session_cookie(user)
    return user


@pytest.fixture
def reader(django_user_model):
    return staff_user(django_user_model, "reader")  # staff, no permission at all


@pytest.fixture
def debugger(django_user_model):
    return staff_user(django_user_model, "debugger", "view_traceback")


def detail_page(user, saga) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/sagas/{saga.id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_read_only_staff_get_no_traceback_in_the_page_only_that_it_is_hidden(crashed, reader):
    html = detail_page(reader, crashed)
    assert SERVER_PATH not in html and "Traceback (most recent call last)" not in html
    assert '"traceback_hidden": true' in html  # the page's data says why the box is empty
    assert HIDDEN in html
    assert "could not convert string to float" in html  # the error itself is still shown


def test_the_view_traceback_permission_shows_it_and_so_does_superuser(crashed, debugger, staff):
    for user in (debugger, staff):
        html = detail_page(user, crashed)
        assert SERVER_PATH in html and "Traceback (most recent call last)" in html
        assert '"traceback_hidden": true' not in html


def socket_attempts(user, saga) -> list[dict]:
    attempts: list[dict] = []

    async def scenario():
        ws = communicator(f"/ws/sagas/{saga.id}/", user)
        assert (await ws.connect(timeout=WAIT))[0]
        snapshot = await ws.receive_json_from(timeout=WAIT)
        assert snapshot["type"] == "snapshot"
        attempts.extend(snapshot["attempts"])
        await ws.send_json_to({"type": "replay", "after": 0})  # a second read, same rule
        replayed = await ws.receive_json_from(timeout=WAIT)
        attempts.extend(replayed["attempts"])
        await ws.disconnect()

    run(scenario)
    assert attempts
    return attempts


@LIVE
def test_read_only_staff_get_no_traceback_over_the_socket(crashed, reader):
    attempts = socket_attempts(reader, crashed)
    assert all(a["error_traceback"] == "" and a["traceback_hidden"] for a in attempts)
    assert all(a["error_type"] == "builtins.ValueError" for a in attempts)
    assert SERVER_PATH not in str(attempts)


@LIVE
def test_the_view_traceback_permission_gets_it_over_the_socket(crashed, debugger):
    attempts = socket_attempts(debugger, crashed)
    assert all(SERVER_PATH in a["error_traceback"] for a in attempts)
    assert not any(a["traceback_hidden"] for a in attempts)
