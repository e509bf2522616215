"""Timed-out local attempts whose threads still run. Python cannot stop a thread, so its
effect may still land: the saga waits (`busy_until`, renewed while the thread lives) and no
worker runs it again, retry or compensation, until the thread ends, this worker dies, or
the thread has run `abandon_after` seconds past its timeout."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait

from sagas.engine import leases
from sagas.engine.wakeup import notify_due

log = logging.getLogger("sagas.worker")


class Stragglers:
    def __init__(self, lease_seconds: float, abandon_after: float) -> None:
        self.lease = lease_seconds
        self.abandon_after = abandon_after
        # saga id -> (the thread's future, monotonic time after which it is given up on)
        self._running: dict[uuid.UUID, tuple[Future, float]] = {}
        self._lock = threading.Lock()

    def __contains__(self, saga_id: object) -> bool:
        return saga_id in self._running

    def __bool__(self) -> bool:
        return bool(self._running)

    def add(self, saga_id: uuid.UUID, future: Future) -> None:
        with self._lock:
            self._running[saga_id] = (future, time.monotonic() + self.abandon_after)

    def renew(self) -> None:
        """Keep their sagas waiting (the worker's heartbeat calls it)."""
        with self._lock:
            ids = list(self._running)
        leases.renew_busy(ids, self.lease)

    def release(self, worker_id: str) -> None:
        """Let sagas go whose threads have ended, or been waited for too long."""
        if not self._running:
            return
        now = time.monotonic()
        ended = []
        for saga_id, (future, abandon_at) in list(self._running.items()):
            if future.done():
                ended.append(saga_id)
            elif now >= abandon_at:
                log.error(
                    "worker %s: saga %s: the thread of its timed-out attempt still runs after "
                    "%.0fs; no longer waiting for it (its effect may still land)",
                    worker_id,
                    saga_id,
                    self.abandon_after,
                )
                ended.append(saga_id)
        if ended:
            leases.clear_busy(ended)
            with self._lock:
                for saga_id in ended:
                    self._running.pop(saga_id, None)
            notify_due()

    def wait_all(self, worker_id: str) -> None:
        """Before the worker exits (the interpreter would join the threads anyway), wait for
        them, keeping their sagas from running again until they end."""
        if self._running:
            log.info(
                "worker %s: waiting for %d timed-out step(s) to end", worker_id, len(self._running)
            )
        while self._running:
            self.release(worker_id)
            futures = [future for future, _ in self._running.values()]
            if futures:
                wait(futures, timeout=self.lease / 3, return_when=FIRST_COMPLETED)
                self.renew()
