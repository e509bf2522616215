"""The hot path's statements, written out: each commit of the worker's loop runs these,
so they skip the ORM's statement building, are prepared once on PostgreSQL, and go out
pipelined."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, router
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin

from sagas import conf


def update_many(model: type[Model], rows: list[Any], fields: list[str]) -> None:
    """UPDATE each row's `fields` by primary key, as one pipelined executemany.

    Django's bulk_update builds a CASE expression per field and row, which costs more Python
    time than the whole transaction; this keeps the hot path to one round trip.
    """
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    sets = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in columns)
    pk = meta.pk
    sql = (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {sets} "
        f"WHERE {connection.ops.quote_name(pk.column)} = %s"
    )
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns]
        + [pk.get_db_prep_value(row.pk, connection)]
        for row in rows
    ]
    with hot_cursor(connection) as cursor:
        cursor.executemany(sql, params)


@contextmanager
def pipelined(model: type[Model]) -> Iterator[None]:
    """Send the statements run inside without waiting for each one's answer (PostgreSQL's
    pipeline mode): a statement whose result is read waits for all sent before it. Errors
    surface at that read or at the end, as Django's database errors, and roll back the
    caller's transaction as usual."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def hot_cursor(connection: Any) -> Any:
    """A cursor for the hot path's few fixed statements: on PostgreSQL it binds on the
    server, so psycopg prepares a statement run often and the server stops parsing and
    planning it on every commit. The rest of the code keeps Django's client-side binding."""
    if connection.vendor != "postgresql" or connection.queries_logged:
        # Logged (DEBUG, a test capturing queries): Django's own cursor, whose log shows
        # each statement's text; the same statements, only bound on this side.
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = connection.connection
    # Only server-binding cursors prepare: Django's own keep their statements unprepared.
    raw.prepare_threshold = 0 if conf.prepared_statements() else None
    return connection.make_cursor(ServerBindingCursor(raw))


def insert_many(model: type[Model], rows: list[Any], *, unless_exists: str = "") -> int:
    """INSERT the rows in one statement and set their new primary keys from RETURNING;
    returns how many went in. `unless_exists`: a unique column; rows whose value is
    already there are skipped (one row only: which ones went in is then plain).

    What bulk_create does, for the hot path's tables, without building the statement
    through the ORM's compiler on every commit (which cost more than the database's work)."""
    connection = connections[router.db_for_write(model)]
    assert not unless_exists or len(rows) == 1, "unless_exists inserts one row"
    if not connection.features.can_return_rows_from_bulk_insert:  # an SQLite before 3.35
        manager = model._default_manager
        if unless_exists and manager.filter(**{unless_exists: getattr(rows[0], unless_exists)}):
            return 0
        return len(manager.bulk_create(rows))
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not isinstance(f, AutoFieldMixin)]
    quote = connection.ops.quote_name
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    skip = f" ON CONFLICT ({quote(unless_exists)}) DO NOTHING" if unless_exists else ""
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row_marks] * len(rows))}{skip} RETURNING {quote(meta.pk.column)}"
    )
    params = [
        f.get_db_prep_save(f.pre_save(row, add=True), connection) for row in rows for f in fields
    ]
    with hot_cursor(connection) as cursor:
        cursor.execute(sql, params)
        ids = cursor.fetchall()
    for row, (pk,) in zip(rows, ids, strict=not unless_exists):
        row.pk = pk
        row._state.adding = False
        row._state.db = connection.alias
    return len(ids)


def columns(model: type[Model], alias: str = "") -> str:
    """Every column of `model`, in the order load_rows expects them."""
    prefix = f"{alias}." if alias else ""
    quote = connections[router.db_for_read(model)].ops.quote_name
    return ", ".join(prefix + quote(f.column) for f in model._meta.concrete_fields)


def load_rows(model: type[Model], cursor: Any) -> list[Any]:
    """Model instances from the rows a statement selecting `columns(model)` returned, with
    each field's database converters applied (JSON, for one), as the ORM's queries do."""
    connection = cursor.db
    fields = model._meta.concrete_fields
    table = model._meta.db_table
    converters = [
        (
            i,
            field,
            connection.ops.get_db_converters(field.get_col(table))
            + field.get_db_converters(connection),
        )
        for i, field in enumerate(fields)
    ]
    converters = [(i, field, functions) for i, field, functions in converters if functions]
    rows = []
    for values in cursor.fetchall():
        values = list(values)
        for i, field, functions in converters:
            for convert in functions:
                values[i] = convert(values[i], field, connection)
        rows.append(model.from_db(connection.alias, None, values))
    return rows
