"""The demo operator's login survives a restart of the demo on the same database (so open
dashboards stay logged in), is kept where only its owner can read it, and can be set."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from sagas.demo import login as logins
from sagas.demo.login import BadPassword, login_file, operator_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def kept_elsewhere(tmp_path, monkeypatch):
    # Not next to the test database, which other tests' demo runs may share.
    monkeypatch.setattr(logins, "login_file", lambda: tmp_path / "demo-login")


def user():
    return get_user_model().objects.get(username="operator")


def test_the_first_run_makes_a_staff_login_and_keeps_it_from_others():
    login = operator_login("operator")
    assert login.new and login.password
    assert user().check_password(login.password)
    assert user().is_staff and user().is_superuser and user().is_active
    assert stat.S_IMODE(logins.login_file().stat().st_mode) == 0o600


def test_the_next_run_prints_the_same_password_and_changes_nothing():
    first = operator_login("operator")
    hashed = user().password
    again = operator_login("operator")
    assert (again.password, again.new) == (first.password, False)
    assert user().password == hashed  # sessions (bound to the hash) stay valid


def test_password_sets_one_and_the_next_run_keeps_it():
    operator_login("operator")
    given = operator_login("operator", "correct horse battery")
    assert (given.password, given.new) == ("correct horse battery", True)
    assert user().check_password("correct horse battery")
    assert operator_login("operator").password == "correct horse battery"


def test_a_weak_password_is_refused_with_the_validators_reasons():
    operator_login("operator")
    with pytest.raises(BadPassword, match="too short"):
        operator_login("operator", "123")


def test_a_password_changed_outside_the_demo_is_left_alone_and_not_shown():
    operator_login("operator")
    changed = user()
    changed.set_password("chosen in the admin 42")
    changed.save()
    login = operator_login("operator")
    assert (login.password, login.new) == (None, False)
    assert user().check_password("chosen in the admin 42")


def test_the_file_sits_next_to_the_sqlite_database(settings):
    path = login_file()  # the real one, imported before the fixture replaced it
    if connection.vendor == "sqlite":
        assert path.parent == Path(connection.settings_dict["NAME"]).parent
        assert path.name.endswith(".demo-login")
    else:
        assert path.parent == settings.BASE_DIR / "var"
