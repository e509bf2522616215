"""The worker's pruning thread: every SAGASCOPE_PRUNE_INTERVAL seconds, the one worker that
takes the pruner's lease archives and deletes the finished sagas past their retention
(sagas/services/retention.py), a small batch per transaction. It runs beside the saga loop
on its own database connection and swallows its errors (logged): pruning never holds up
or stops a saga, and a pruner killed mid-batch is finished by the next run."""

from __future__ import annotations

import logging
import threading

from django.db import connections

from sagas import conf
from sagas.services import retention

log = logging.getLogger("sagas.retention")

LEASE_SECONDS = 60.0  # renewed before every batch; a batch takes well under a second


class PruneLoop:
    def __init__(self, owner: str, interval: float | None = None) -> None:
        self.owner = owner
        self.interval = interval if interval is not None else conf.prune_interval()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pruner")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current batch (each batch is its own transaction)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            # Look often (cheap: one UPDATE on the lease row), prune when a run is due.
            while not self._stopping.wait(min(self.interval, 30.0)):
                try:
                    self.run_once()
                except Exception:
                    log.exception("pruning failed; trying again later")
                    connections.close_all()
        finally:
            connections.close_all()  # this thread's connections only

    def run_once(self) -> retention.Summary | None:
        """Prune if it is this worker's turn; None if not."""
        if not retention.take_turn(self.owner, LEASE_SECONDS, self.interval):
            return None
        try:
            summary = retention.prune(
                progress=log.info,
                keep_going=lambda: (
                    not self._stopping.is_set() and retention.renew_turn(self.owner, LEASE_SECONDS)
                ),
            )
        except BaseException:
            retention.end_turn(self.owner, ran=False)
            raise
        retention.end_turn(self.owner)
        if summary.sagas or summary.reply_keys or summary.unloaded:
            log.info(
                "pruned %d sagas (%s), %d reply keys, %d loaded sagas",
                summary.sagas,
                summary.statuses,
                summary.reply_keys,
                summary.unloaded,
            )
        return summary
