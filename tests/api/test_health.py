"""The probes answer anyone, so a readiness failure says only that the database is
unreachable; the detail (host, port, role) goes to the server's log."""

from __future__ import annotations

import logging
import socket

import pytest
from django.db import connection
from django.test import Client

# The connection is closed and reopened: no test transaction may wrap it.
pytestmark = pytest.mark.django_db(transaction=True)

ROLE = "no_such_role_for_readyz"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


@pytest.fixture
def point_database_at():
    """Point the default connection at other settings for one test, then back."""
    saved = dict(connection.settings_dict)

    def change(**settings: str) -> None:
        connection.close()
        connection.settings_dict.update(settings)

    yield change
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


def readiness(caplog) -> tuple[int, dict, str, str]:
    """The probe's status, JSON and raw body, and what the server logged meanwhile."""
    with caplog.at_level(logging.WARNING, logger="sagas.api.health"):
        response = Client().get("/readyz")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    return response.status_code, response.json(), response.content.decode(), logged


@pytest.mark.postgres
def test_a_closed_port_is_unreachable_with_no_host_or_port_in_the_answer(point_database_at, caplog):
    port = closed_port()
    point_database_at(HOST="127.0.0.1", PORT=str(port))
    status, body, text, logged = readiness(caplog)
    assert (status, body) == (503, {"status": "unavailable", "database": "unreachable"})
    assert str(port) not in text and "127.0.0.1" not in text
    assert str(port) in logged and "127.0.0.1" in logged  # the operator learns it from the log


@pytest.mark.postgres
def test_an_unknown_role_is_unreachable_with_no_role_in_the_answer(point_database_at, caplog):
    point_database_at(USER=ROLE)
    status, body, text, logged = readiness(caplog)
    assert (status, body) == (503, {"status": "unavailable", "database": "unreachable"})
    assert ROLE not in text
    assert ROLE in logged


def test_a_database_that_cannot_be_opened_is_unreachable(point_database_at, tmp_path, caplog):
    # Whatever the engine: a SQLite file in a missing directory, or a missing PostgreSQL database.
    if connection.vendor == "sqlite":
        name, detail = str(tmp_path / "missing" / "nowhere.sqlite3"), "unable to open"
    else:
        name = detail = "no_such_database_for_readyz"
    point_database_at(NAME=name)
    status, body, text, logged = readiness(caplog)
    assert (status, body) == (503, {"status": "unavailable", "database": "unreachable"})
    assert name not in text and detail not in text
    assert detail in logged


def test_a_reachable_migrated_database_is_ready():
    assert Client().get("/readyz").json() == {"status": "ok"}
