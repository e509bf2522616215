"""The worker's console line, once a period: what this worker did in it, and how many sagas
ended in it, by outcome, across every worker. A worker finishes only its share of the
sagas (a saga often ends on a participant's reply, applied by whichever worker takes it),
so the ended count is read from the database's totals, as /metrics and the dashboard do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sagas import conf
from sagas.services.operations import ended_by_outcome

log = logging.getLogger(__name__)

OUTCOMES = ("completed", "compensated", "failed")


@dataclass(frozen=True)
class Figures:
    """What a worker has done since it started (its Stats, read at one moment)."""

    transitions: int = 0
    attempts: int = 0
    lost_leases: int = 0


def ended_phrase(ended: dict[str, int]) -> str:
    """'12 sagas ended (9 completed, 2 compensated, 1 failed)'."""
    total = sum(ended.values())
    noun = "saga" if total == 1 else "sagas"
    each = ", ".join(f"{ended.get(outcome, 0)} {outcome}" for outcome in OUTCOMES)
    return f"{total} {noun} ended ({each})"


def line(worker_id: str, seconds: float, done: Figures, ended: dict[str, int] | None) -> str:
    """The report of one period: this worker's figures, then every worker's ended sagas."""
    text = (
        f"worker {worker_id}, last {seconds:.0f}s: {done.transitions} transitions, "
        f"{done.attempts} attempts, {done.lost_leases} leases lost"
    )
    if ended is not None:
        text += f"; all workers: {ended_phrase(ended)}"
    return text


class Reporter:
    """Keeps the figures of the last report, so each line says what changed since."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self._done = Figures()
        self._ended = self._read_ended()

    def report(self, seconds: float, done: Figures) -> str:
        ended_now = self._read_ended()
        ended = None
        if ended_now is not None and self._ended is not None:
            ended = {o: ended_now.get(o, 0) - self._ended.get(o, 0) for o in OUTCOMES}
        if ended_now is not None:
            self._ended = ended_now
        delta = Figures(
            done.transitions - self._done.transitions,
            done.attempts - self._done.attempts,
            done.lost_leases - self._done.lost_leases,
        )
        self._done = done
        return line(self.worker_id, seconds, delta, ended)

    @staticmethod
    def _read_ended() -> dict[str, int] | None:
        if not conf.metrics_counters():
            return None  # nothing counts them
        try:
            return ended_by_outcome()
        except Exception as exc:  # a report never stops the worker
            log.warning("could not read the sagas ended: %s", exc)
            return None
