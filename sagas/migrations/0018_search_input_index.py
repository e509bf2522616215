"""The index the search language's commonest form needs: equality on the input's fields
(`input.country = "AQ"`), which the compiler turns into containment (`input @> '{...}'`)
and a GIN index with jsonb_path_ops serves for any field, with nothing declared.

PostgreSQL only (SQLite has no GIN), as plain SQL like 0004, built CONCURRENTLY so a deploy
does not block the workers' writes.
"""

from django.db import migrations

NAME = "saga_input_path_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} "
        "ON sagas_sagainstance USING gin (input jsonb_path_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("sagas", "0017_correlation_prefix_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
