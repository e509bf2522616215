"""manage.py archive_load FILE [--id ID]: load archived sagas back, read-only, for an
investigation: they show in the dashboard and the API as they were, the action services
refuse them (LoadedSaga), no worker claims them (they are finished), and the pruner deletes
them again after SAGASCOPE_LOADED_KEEP_DAYS without archiving them twice."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sagas import conf
from sagas.services import archive

from .archive_show import _matches, _saga_id


class Command(BaseCommand):
    help = "Load archived sagas back into the database, read-only, for an investigation."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="an archive file (.jsonl.gz)")
        parser.add_argument("--id", help="load only this saga")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = _saga_id(options["id"]) if options["id"] else None
        try:
            found = [r for r in archive.read(options["file"]) if _matches(r, wanted)]
        except archive.ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        if not found:
            raise CommandError(f"no archived saga {wanted} in {options['file']}")
        loaded, skipped = archive.load(found, source=str(options["file"]))
        for saga_id in loaded:
            self.stdout.write(f"loaded {saga_id} (read-only)")
        for saga_id in skipped:
            self.stdout.write(f"skipped {saga_id}: a saga with this id is in the database")
        days = conf.loaded_keep_seconds() / 86400
        self.stdout.write(f"{len(loaded)} loaded; they are deleted again after {days:g} days")
