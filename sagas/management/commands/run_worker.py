"""manage.py run_worker: run sagas until SIGTERM or SIGINT, then stop gracefully."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from sagas.runtime.worker import Worker
from sagas.telemetry.setup import configure, shutdown


class Command(BaseCommand):
    help = "Run a saga worker: claim due sagas, run their steps, commit their transitions."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="sagas held and advanced per transaction (default: setting)",
        )
        parser.add_argument(
            "--lease",
            type=float,
            default=None,
            help="lease seconds before another worker may take a saga",
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="longest idle wait in seconds before looking for work",
        )
        parser.add_argument(
            "--threads", type=int, default=16, help="threads for steps that have a timeout"
        )
        parser.add_argument("--id", default=None, help="worker id (default: host:pid:random)")

    def handle(self, *args: Any, **options: Any) -> None:
        configure("worker")
        worker = Worker(
            worker_id=options["id"],
            batch_size=options["batch_size"],
            lease_seconds=options["lease"],
            poll_interval=options["poll"],
            threads=options["threads"],
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        try:
            worker.run()
        finally:
            shutdown()  # flush spans still in a batch
        self.stdout.write(f"worker {worker.id} stopped; leases released")
