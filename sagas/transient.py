"""Which failures are the database's (worth trying again as they are) and which are the
data's (the same write would fail again: set the message or saga aside instead)."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError


def is_transient(exc: BaseException) -> bool:
    """A lost connection, a restart, a deadlock or a serialization failure: retry later.
    Anything else (a constraint, an overflow, a bug) would fail again the same way."""
    return isinstance(exc, OperationalError | InterfaceError)
