"""Indexes the dashboard's pages need at a million sagas.

They are plain SQL, not model indexes: they serve reads only (the list filtered by type
alone, the overview's last hour by finish time, the sagas with no progress), and on
PostgreSQL they are built CONCURRENTLY so a deploy does not block the workers' writes.
"""

from django.db import migrations

TABLE = "sagas_sagainstance"
INDEXES = {
    # The list filtered by type only, newest first, keyset on (created_at, id).
    "saga_type_created_idx": f"{TABLE} (saga_type, created_at DESC, id DESC)",
    # The overview: sagas finished in the last hour, per minute and per type.
    "saga_finished_idx": f"{TABLE} (finished_at) WHERE finished_at IS NOT NULL",
    # The overview: failed sagas by their last change, and active sagas with no progress.
    "saga_status_updated_idx": (
        f"{TABLE} (status, updated_at) WHERE status IN ('running', 'compensating', 'failed')"
    ),
}


def create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, target in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {target}")


def drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("sagas", "0003_event_reply_ignored")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
