"""A time limit on search queries, so no query can hold the database for long: on
PostgreSQL a transaction-local statement_timeout, on SQLite a progress handler that
interrupts the statement past its deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction

from sagas import conf
from sagas.exceptions import InvalidQuery

_CANCELLED = "57014"  # PostgreSQL's query_canceled (a statement timeout)
_STEPS = 10_000  # SQLite virtual-machine steps between two looks at the clock


class QueryTooSlow(InvalidQuery):
    """The query took too long; narrow it (a type, a status or a time range such as
    started > -24h) and search again."""

    def __init__(self) -> None:
        super().__init__((self.__doc__ or "").strip().replace("\n   ", ""), "query")


@contextmanager
def bounded(seconds: float | None = None) -> Iterator[None]:
    """Run the block's queries under a time limit; QueryTooSlow when one passes it."""
    limit = conf.search_timeout() if seconds is None else seconds
    if connection.vendor == "postgresql":
        with _postgres(limit):
            yield
    elif connection.vendor == "sqlite":
        with _sqlite(limit):
            yield
    else:
        yield


@contextmanager
def _postgres(limit: float) -> Iterator[None]:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            (before,) = cursor.fetchone()
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{int(limit * 1000)}ms"]
            )
        try:
            yield
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == _CANCELLED:
                raise QueryTooSlow from None
            raise
        # SET LOCAL outlives a savepoint: give an enclosing transaction its own limit back.
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])


@contextmanager
def _sqlite(limit: float) -> Iterator[None]:
    connection.ensure_connection()
    raw = connection.connection
    deadline = time.monotonic() + limit
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _STEPS)
    try:
        yield
    except OperationalError as exc:
        if "interrupted" in str(exc) and time.monotonic() > deadline:
            raise QueryTooSlow from None
        raise
    finally:
        raw.set_progress_handler(None, 0)
