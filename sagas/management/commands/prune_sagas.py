"""manage.py prune_sagas [--dry-run]: archive and delete the finished sagas past their
retention now, a batch at a time, with a line per batch (the workers do the same on their
own every SAGASCOPE_PRUNE_INTERVAL seconds)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sagas import conf
from sagas.services import retention

OWNER = "manage.py prune_sagas"


class Command(BaseCommand):
    help = "Archive then delete finished sagas past their retention (--dry-run: only list)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be pruned, change nothing"
        )
        parser.add_argument(
            "--batch", type=int, default=None, help="sagas per batch (SAGASCOPE_PRUNE_BATCH)"
        )
        parser.add_argument(
            "--list", action="store_true", help="also print each saga: id, type, status, finished"
        )

    def _list(self, due: retention.Due) -> None:
        self.stdout.write(
            f"  {due.id}  {due.saga_type}  {due.status}  {due.finished_at:%Y-%m-%d %H:%M}"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        size = options["batch"]
        if size is not None and not 1 <= size <= 10_000:
            self.stderr.write("--batch must be between 1 and 10000")
            raise SystemExit(2)
        each = self._list if options["list"] else None
        if options["dry_run"]:
            summary = retention.prune(
                dry_run=True, size=size, progress=self.stdout.write, each=each
            )
            self.stdout.write(f"dry run: {summary.sagas} sagas would be pruned")
            return
        # Take the workers' turn, so a worker's pruner never runs beside this one.
        lease = 60.0
        if not retention.take_turn(OWNER, lease, interval=0.0):
            self.stderr.write("a worker is pruning now; try again in a minute")
            raise SystemExit(1)
        try:
            summary = retention.prune(
                size=size,
                progress=self.stdout.write,
                keep_going=lambda: retention.renew_turn(OWNER, lease),
                each=each,
            )
        finally:
            retention.end_turn(OWNER)
        self.stdout.write(
            f"pruned {summary.sagas} sagas in {summary.batches} batches, archived under "
            f"{conf.archive_dir()}; {summary.changed} changed since archived (kept); "
            f"{summary.recovered} interrupted batches finished; "
            f"{summary.reply_keys} old reply keys and {summary.unloaded} loaded sagas deleted"
        )
