"""The operator login from the environment (docker-compose.yml's one-shot `createoperator`):
created once, left alone when run again, so a restarted stack ends nobody's session."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from sagas.services.actors import EDIT_INPUT, MANAGE_ALERTS, RETRY, START_SAGA, TRIAGE

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"


def logged_in(username: str, password: str) -> Client:
    client = Client()
    answer = client.post("/login/", {"username": username, "password": password})
    assert answer.status_code == 302, answer.content[:300]
    return client


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_operator", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_creates_a_staff_operator_holding_every_sagascope_permission(monkeypatch):
    monkeypatch.setenv("SAGASCOPE_OPERATOR_PASSWORD", PASSWORD)
    assert "created operator 'operator'" in run()
    user = get_user_model().objects.get(username="operator")
    assert user.is_staff and user.is_active and not user.is_superuser
    assert all(user.has_perm(p) for p in (RETRY, EDIT_INPUT, START_SAGA, TRIAGE, MANAGE_ALERTS))
    assert logged_in("operator", PASSWORD).get("/").status_code == 200


def test_running_it_again_keeps_sessions_and_a_new_password_replaces_the_old(monkeypatch):
    monkeypatch.setenv("SAGASCOPE_OPERATOR_PASSWORD", PASSWORD)
    run("ops")
    client = logged_in("ops", PASSWORD)
    assert "password unchanged" in run("ops")
    assert client.get("/").status_code == 200  # the session survived the second run
    monkeypatch.setenv("SAGASCOPE_OPERATOR_PASSWORD", PASSWORD + " rotated")
    assert "password changed" in run("ops", "--superuser")
    assert client.get("/").status_code == 302  # a changed password ends the old sessions
    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser and user.check_password(PASSWORD + " rotated")


@pytest.mark.parametrize("password", [None, ""])
def test_it_refuses_to_run_without_a_password(monkeypatch, password):
    if password is None:
        monkeypatch.delenv("SAGASCOPE_OPERATOR_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("SAGASCOPE_OPERATOR_PASSWORD", password)
    with pytest.raises(CommandError, match="set SAGASCOPE_OPERATOR_PASSWORD"):
        run()
    assert not get_user_model().objects.exists()
