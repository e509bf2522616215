"""The worker's alerting threads: one evaluates the rules while this worker holds the
evaluator's lease (one evaluator among all workers), one delivers alerts. Both run beside
the saga loop, on their own database connections, and swallow their errors (logged): an
alert rule, a slow receiver or a failed delivery never holds up or stops a saga."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connections

from sagas import conf
from sagas.services.alerting import deliver, evaluate

log = logging.getLogger("sagas.alerts")


class AlertLoop:
    def __init__(self, owner: str, interval: float | None = None) -> None:
        self.owner = owner
        self.interval = interval if interval is not None else conf.alert_interval()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(self._evaluate, self._pause), daemon=True),
            # Woken as soon as an evaluation queues deliveries.
            threading.Thread(target=self._loop, args=(self._deliver, self._nap), daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop both threads; a delivery in flight finishes within its own timeout."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout if timeout is not None else conf.alert_timeout() + 5)
        try:
            evaluate.give_up_turn(self.owner)
        except Exception as exc:
            log.warning("alerts: could not give the evaluator's lease back: %s", exc)

    def _loop(self, step: Callable[[], None], wait: Callable[[], None]) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    step()
                except Exception:
                    log.exception("alerts: %s failed; trying again later", step.__name__)
                    connections.close_all()  # a broken connection is replaced next round
                wait()
        finally:
            connections.close_all()  # this thread's connections only

    def _evaluate(self) -> None:
        # The lease outlives a few missed rounds, so a busy evaluator keeps its turn.
        if evaluate.take_turn(self.owner, max(10.0, self.interval * 5)) and evaluate.evaluate():
            self._wake.set()

    def _deliver(self) -> None:
        while not self._stopping.is_set() and deliver.work():
            pass

    def _pause(self) -> None:
        self._stopping.wait(self.interval)

    def _nap(self) -> None:
        self._wake.wait(self.interval)
        self._wake.clear()
