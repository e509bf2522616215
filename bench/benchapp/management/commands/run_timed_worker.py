"""manage.py run_timed_worker --timings PATH: `run_worker`, timing each part of a tick.

The bench's view into a worker: the production Worker, wrapped from outside, with the
wall time and the database round trips of each part of its loop added up and written to
PATH as JSON when it stops (SIGTERM). Where a saga's time goes, measured, not guessed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from sagas.runtime.worker import Worker

# The parts of Worker.run's loop, in the order a tick runs them.
PARTS = ("_replies", "_claim", "_collect", "_commit_isolating", "_dispatch", "_idle", "watch")


class TimedWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds: dict[str, float] = defaultdict(float)
        self.queries: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._part: str | None = None
        # SAGASCOPE_BENCH_STATEMENTS=1: also count each statement's text, per part.
        self.statements: dict[str, int] | None = (
            defaultdict(int) if os.environ.get("SAGASCOPE_BENCH_STATEMENTS") else None
        )
        for name in PARTS:
            setattr(self, name, self._timed(name, getattr(self, name)))

    def _timed(self, name: str, method: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            outer, self._part = self._part, name
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - began
                self.calls[name] += 1
                self._part = outer

        return run

    def count_query(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries[self._part or "other"] += 1
        if self.statements is not None:
            self.statements[f"{self._part} {'many ' if many else ''}{sql[:110]}"] += 1
        return execute(sql, params, many, context)

    def run(self, until: Any = None) -> None:
        with connection.execute_wrapper(self.count_query):
            super().run(until)

    def timings(self) -> dict[str, Any]:
        return {
            "ticks": self.stats.ticks,
            "transitions": self.stats.transitions,
            "parts": {
                name: {
                    "seconds": self.seconds[name],
                    "calls": self.calls[name],
                    "queries": self.queries[name],
                }
                for name in PARTS
            },
            "other_queries": self.queries["other"],
            "statements": self.statements or {},
        }


class Command(BaseCommand):
    help = "Run a worker that writes where its time went to --timings when it stops."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--timings", required=True, help="JSON file written at exit")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--poll", type=float, default=None)
        parser.add_argument("--id", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        worker = TimedWorker(
            worker_id=options["id"], batch_size=options["batch_size"], poll_interval=options["poll"]
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        # SAGASCOPE_BENCH_PROFILE=PATH: a cProfile of the worker's loop, for flame graphs.
        profile_path = os.environ.get("SAGASCOPE_BENCH_PROFILE")
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
            profiler.runcall(worker.run)
            profiler.dump_stats(f"{profile_path}.{os.getpid()}")
        else:
            worker.run()
        with open(options["timings"], "w") as out:
            json.dump(worker.timings(), out)
