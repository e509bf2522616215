"""The demo operator's login, kept across runs of the same database: the demo sets a password
only when it creates the user (or when told to with --password), and keeps it in a file
only its owner can read, next to the SQLite database (under var/ for another database), so
that each run prints a login that works and open dashboards stay logged in."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection

from sagas.exceptions import SagaError


class BadPassword(SagaError):
    """The password given is not one Django's password validators accept."""


@dataclass(frozen=True)
class Login:
    username: str
    password: str | None  # None: the user changed it outside the demo; unknown here
    new: bool  # set on this run


def login_file() -> Path:
    """Where the login of the database this process uses is kept."""
    db = connection.settings_dict
    name = str(db.get("NAME") or "")
    if connection.vendor == "sqlite" and name and name != ":memory:" and "mode=" not in name:
        path = Path(name)
        return path.with_name(f"{path.name}.demo-login")
    where = f"{connection.vendor}-{db.get('HOST') or 'local'}-{db.get('PORT') or ''}-{name}"
    return Path(settings.BASE_DIR) / "var" / ("demo-login-" + re.sub(r"[^\w.-]", "_", where))


def operator_login(username: str, password: str | None = None) -> Login:
    """Make `username` a staff superuser and return a login for it: `password` if given
    (BadPassword if the validators refuse it), else the one kept from the last run, else
    a new one when the user is new or has none."""
    user, created = get_user_model().objects.get_or_create(username=username)
    kept = _read().get(username)
    new = True
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise BadPassword(" ".join(exc.messages)) from None
    elif created or not user.has_usable_password():
        password = secrets.token_urlsafe(12)
    else:
        new = False
        password = kept if kept is not None and user.check_password(kept) else None
    if new:
        user.set_password(password)
    user.is_staff = user.is_superuser = user.is_active = True
    user.save()
    if new:
        _write({**_read(), username: password})
    return Login(username, password, new)


def _read() -> dict[str, str]:
    try:
        data = json.loads(login_file().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write(logins: dict[str, str]) -> None:
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created unreadable to others, and tightened if an older file was not.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump(logins, out)
