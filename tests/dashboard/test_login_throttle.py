"""Brute force on the login forms: failures are counted per account and per address, in
the database (so across web processes); a locked-out attempt is refused with a clear
message before any password is checked, even the right one."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.test import AsyncClient, Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "the-right-password"
LOCKED = "Too many failed logins; try again in 15 minutes"


@pytest.fixture(autouse=True)
def accounts() -> None:
    for name in ("alice", "bob", "carol"):
        User.objects.create_user(name, password=PASSWORD, is_staff=True)


def log_in(username: str, password: str, ip: str, path: str = "/login/", client=None):
    client = client or Client()
    data = {"username": username, "password": password}
    if path.startswith("/admin/"):
        data["next"] = "/admin/"
    return client.post(path, data, REMOTE_ADDR=ip)


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """The usernames whose password the model backend was asked to check."""
    checked: list[str] = []
    real = ModelBackend.authenticate

    def spy(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        return real(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", spy)
    return checked


def test_the_defaults_are_five_failures_and_fifteen_minutes():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60


def test_after_five_wrong_passwords_even_the_right_one_is_refused_unchecked(password_checks):
    for attempt in range(1, 6):
        r = log_in("alice", "guess", "203.0.113.1")
        # the fifth failure is answered with the lockout already
        assert r.status_code == (429 if attempt == 5 else 200) and not logged_in(r)
    password_checks.clear()
    r = log_in("alice", PASSWORD, "203.0.113.1")
    assert r.status_code == 429 and LOCKED in r.content.decode()
    assert not logged_in(r) and password_checks == []
    # the account is locked from any address, and on the admin's login form too
    r = log_in("alice", PASSWORD, "198.51.100.7")
    assert r.status_code == 429 and not logged_in(r)
    r = log_in("alice", PASSWORD, "198.51.100.8", path="/admin/login/")
    assert r.status_code == 429 and not logged_in(r)
    assert password_checks == []
    # another account from another address is not affected
    assert logged_in(log_in("bob", PASSWORD, "198.51.100.9"))


def test_one_address_trying_many_usernames_is_throttled_too():
    for name in ("root", "admin", "operator", "alice"):
        assert log_in(name, "guess", "203.0.113.2").status_code == 200
    assert log_in("bob", "guess", "203.0.113.2").status_code == 429
    r = log_in("carol", PASSWORD, "203.0.113.2")
    assert r.status_code == 429 and LOCKED in r.content.decode() and not logged_in(r)
    # carol herself, from her own address, still logs in
    assert logged_in(log_in("carol", PASSWORD, "198.51.100.10"))


def test_successful_logins_do_not_count_nor_wipe_the_failures_of_others():
    for _ in range(20):  # an operator logging in all day, from one address
        assert logged_in(log_in("bob", PASSWORD, "203.0.113.3"))
    for _ in range(4):
        assert log_in("alice", "guess", "203.0.113.3").status_code == 200
    # An attacker who owns an account cannot reset the count by logging in with it.
    assert logged_in(log_in("bob", PASSWORD, "203.0.113.3"))
    assert log_in("alice", "guess", "203.0.113.3").status_code == 429  # the fifth
    assert log_in("alice", PASSWORD, "198.51.100.11").status_code == 429


def test_the_lockout_answers_the_same_under_asgi():
    async def attempts() -> list[tuple[int, str]]:
        client = AsyncClient()
        results = []
        for password in ["guess"] * 5 + [PASSWORD]:  # the fifth failure locks
            r = await client.post(
                "/login/", {"username": "alice", "password": password}, REMOTE_ADDR="203.0.113.4"
            )
            results.append((r.status_code, r.content.decode()))
        return results

    *failures, fifth, last = async_to_sync(attempts)()
    assert {status for status, _ in failures} == {200}
    assert fifth[0] == last[0] == 429 and LOCKED in last[1]


def test_the_lockout_says_how_long_is_left_and_ends_after_the_cool_off():
    for _ in range(5):
        log_in("alice", "guess", "203.0.113.5")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    r = log_in("alice", PASSWORD, "203.0.113.5")
    assert r.status_code == 429
    assert "Too many failed logins; try again in 5 minutes" in r.content.decode()
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert logged_in(log_in("alice", PASSWORD, "203.0.113.5"))


def test_the_limits_come_from_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_ENABLED, s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds())"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOGIN_FAILURE_LIMIT": "3",
        "LOGIN_COOLOFF_MINUTES": "60",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "3", "3600.0"]
