"""manage.py archive_show FILE | --id ID: print archived sagas (a summary, or --json)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sagas.services import archive


class Command(BaseCommand):
    help = "Print the sagas of an archive file, or find one archived saga by id."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", nargs="?", help="an archive file (.jsonl.gz)")
        parser.add_argument("--id", help="a saga id: the file with the id, or every archive")
        parser.add_argument(
            "--day", help="with --id: the day the saga finished (YYYY-MM-DD), to scan less"
        )
        parser.add_argument("--json", action="store_true", help="print the whole records")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = _saga_id(options["id"]) if options["id"] else None
        if not options["file"] and wanted is None:
            raise CommandError("give an archive FILE, or --id ID")
        try:
            if options["file"]:
                found = [r for r in archive.read(options["file"]) if _matches(r, wanted)]
            else:
                hit = archive.find(wanted, day=_day(options["day"]))
                found = [hit[1]] if hit else []
                if hit:
                    self.stderr.write(f"found in {hit[0]}")
        except archive.ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        if not found:
            raise CommandError(f"no archived saga {wanted}" if wanted else "the file is empty")
        for record in found:
            if options["json"]:
                self.stdout.write(json.dumps(record, indent=2, sort_keys=True))
            else:
                self.stdout.write(summary(record))


def _saga_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise CommandError(f"{text!r} is not a saga id (a UUID)") from None


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--day {text!r} is not a date (YYYY-MM-DD)") from None


def _matches(record: dict[str, Any], wanted: str | None) -> bool:
    return wanted is None or record["saga"]["id"] == wanted


def summary(record: dict[str, Any]) -> str:
    """A readable page for one archived saga: what it was, then its history."""
    saga = record["saga"]
    lines = [
        f"saga {saga['id']}  {saga['saga_type']}  {saga['status']}  version {saga['version']}",
        f"  correlation {saga['correlation_id'] or '-'}  started {saga['created_at']}  "
        f"finished {saga['finished_at']}  archived {record['archived_at']}",
        f"  input {json.dumps(saga['input'], sort_keys=True)}",
    ]
    if saga["reason"]:
        lines.append(f"  reason {saga['reason']}")
    lines.append(f"  attempts ({len(record['attempts'])}):")
    for a in record["attempts"]:
        error = f"  {a['error_type']}: {a['error_message']}" if a["error_type"] else ""
        lines.append(f"    {a['step_name']} {a['phase']} #{a['attempt']} {a['status']}{error}")
    lines.append(f"  events ({len(record['events'])}):")
    for e in record["events"]:
        lines.append(f"    #{e['id']} {e['created_at']} {e['type']} {e['step']} -> {e['status']}")
    for a in record["operator_actions"]:
        lines.append(f"  operator {a['actor']}: {a['action']} ({a['reason'] or 'no reason'})")
    lines.append(f"  outbox rows {len(record['outbox'])}, bulk items {len(record['bulk_items'])}")
    return "\n".join(lines)
