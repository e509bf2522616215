"""The worker loop: claim due sagas, commit their transitions in batches, run their steps.

One tick: claim up to `batch_size` due sagas (one statement), then one transaction that
locks the sagas this worker still holds (checking each lease epoch), applies every pending
outcome through the state machine, starts the next attempts, and writes it all in bulk;
then the attempts run outside any transaction and their outcomes wait for the next tick.
A saga stays with its worker while it makes progress and is released when it waits
(backoff) or ends. A worker killed at any instant loses nothing: its leases expire and
another worker's claim recovers each saga from its last commit.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import Min
from django.db.models.functions import Coalesce, Greatest, Now

from sagas import conf
from sagas.definition import Saga, StepContext
from sagas.exceptions import ActionNotAllowed
from sagas.messaging import outbox, replies
from sagas.models import SagaInstance, StepExecution
from sagas.registry import registry
from sagas.services import bulk
from sagas.statuses import ACTIVE_STATUSES, AttemptStatus, Phase

from . import statemachine
from .claim import claim, database_now, lock_fenced
from .runner import Job, Outcome, Runner, call, call_atomic
from .state import Begin, DefinitionChanged, Failed, Lost, SagaState, Succeeded, TimedOut
from .store import AttemptKey, TransitionWriter, attempt_key, state_of
from .wakeup import Waiter

log = logging.getLogger("sagas.worker")

EventMaker = Callable[[datetime], object]


@dataclass
class Held:
    """A saga this worker holds a lease on, and what it will tell the state machine next.

    Exactly one of: `pending` (an event ready to commit), `atomic_job` (an atomic step to
    run inside the next commit), `future` (a timed step running on the pool until
    `deadline`, on the monotonic clock).
    """

    row: SagaInstance
    epoch: int
    definition: type[Saga] | None
    pending: EventMaker | None
    atomic_job: Job | None = None
    future: Future[Outcome] | None = None
    deadline: float = 0.0

    @property
    def ready(self) -> bool:
        return self.pending is not None or self.atomic_job is not None


@dataclass
class Stats:
    ticks: int = 0
    transitions: int = 0
    attempts: int = 0
    finished: int = 0
    lost_leases: int = 0
    started: float = field(default_factory=time.monotonic)


class Worker:
    def __init__(
        self,
        worker_id: str | None = None,
        batch_size: int | None = None,
        lease_seconds: float | None = None,
        poll_interval: float | None = None,
        threads: int = 16,
        heartbeat: bool = True,
    ) -> None:
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size or conf.batch_size()
        self.lease = lease_seconds or conf.lease_seconds()
        self.poll_interval = poll_interval if poll_interval is not None else conf.poll_interval()
        self.held: dict[uuid.UUID, Held] = {}
        self.stats = Stats()
        self._attempts: dict[AttemptKey, StepExecution] = {}
        self._runner = Runner(threads)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._offset = 0.0  # database clock minus this machine's clock, seen at each commit
        self._heartbeat = threading.Thread(target=self._beat, daemon=True) if heartbeat else None
        self._waiter: Waiter | None = None

    # The loop

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Work until stop() (SIGTERM) or `until()`; then finish current steps and release."""
        log.info("worker %s started (batch %d, lease %ss)", self.id, self.batch_size, self.lease)
        self._waiter = Waiter()
        if self._heartbeat is not None:
            self._heartbeat.start()
        last_report = time.monotonic()
        try:
            while not self._stopping.is_set() and not (until and until()):
                try:
                    if self.tick() == 0:
                        self._idle()
                except DatabaseError as exc:
                    self._recover_from(exc)
                if time.monotonic() - last_report > 10:
                    self._report()
                    last_report = time.monotonic()
            self.drain()
        finally:
            self._waiter.close()
            self._runner.close()
            self._stopping.set()
            self._report()
            connections.close_all()

    def stop(self) -> None:
        """Ask the loop to stop after the current step; safe from a signal handler."""
        self._stopping.set()
        if self._waiter is not None:
            self._waiter.wake()

    def drain(self) -> None:
        """Finish what is in flight, start nothing new, and release every lease."""
        self._stopping.set()
        while self.held:
            if self.tick() == 0:
                self._wait_for_steps(self.poll_interval)

    def tick(self) -> int:
        """Claim, collect finished steps, commit, start steps: one round.

        Returns how many sagas moved."""
        self.stats.ticks += 1
        applied = self._replies()
        self._claim()
        self._collect()
        ready = [saga_id for saga_id, held in self.held.items() if held.ready]
        if not ready:
            return applied
        moved, jobs = self._commit(ready)
        self._dispatch(jobs)
        return moved + applied

    def _replies(self) -> int:
        """Apply replies the participants queued, and bulk-operation items operators asked
        for; each one moves a saga through the same transitions as anything else."""
        if self._stopping.is_set():
            return 0
        moved = replies.consume(self.batch_size) if outbox.pending_replies_exist() else 0
        if bulk.pending_exist():
            moved += bulk.work()
        return moved

    # Claim

    def _claim(self) -> None:
        room = 0 if self._stopping.is_set() else self.batch_size - len(self.held)
        if room <= 0:
            return
        claimed = claim(self.id, room, self.lease)
        if not claimed:
            return
        rows = SagaInstance.objects.filter(id__in=list(claimed))
        in_flight = {r.id: r for r in rows if r.in_flight}
        running = self._running_attempts(list(in_flight.values()))
        for row in rows:
            definition = registry.find(row.saga_type)
            held = Held(row, claimed[row.id], definition, _begin)
            if definition is None:
                why = f"saga type '{row.saga_type}' is no longer defined in this code"
                held.pending = _definition_changed(why)
            elif (why := definition.incompatibility(list(row.definition_steps))) is not None:
                held.pending = _definition_changed(why)
            elif row.in_flight:
                held.pending = _recover(running.get(row.id), definition, row)
            with self._lock:
                self.held[row.id] = held

    def _running_attempts(self, rows: list[SagaInstance]) -> dict[uuid.UUID, StepExecution]:
        found: dict[uuid.UUID, StepExecution] = {}
        for row in rows:
            attempt = StepExecution.objects.filter(
                saga_id=row.id, step_index=row.current_step, phase=row.phase, attempt=row.attempt
            ).first()
            if attempt is not None:
                found[row.id] = attempt
                key = attempt_key(row.id, row.current_step, row.phase, row.attempt)
                self._attempts[key] = attempt
        return found

    # Commit

    def _commit(self, ready: list[uuid.UUID]) -> tuple[int, list[Job]]:
        moved = 0
        jobs: list[Job] = []
        released: list[uuid.UUID] = []
        with transaction.atomic():
            fenced, now = lock_fenced(ready, self.id)
            if now is not None:
                self._offset = now.timestamp() - time.time()
            writer = TransitionWriter(self._attempts)
            for saga_id in ready:
                held = self.held[saga_id]
                if fenced.get(saga_id) != held.epoch:
                    self._drop(saga_id, "lease lost to another worker or an operator")
                    continue
                transitions = self._advance(held, now)
                if not transitions:
                    released.append(saga_id)  # its lease lapses; logged in _advance
                    continue
                moved += 1
                state = transitions[-1].state
                # A local attempt runs here, under this lease; a remote one waits for its
                # reply (or its deadline) with no lease held.
                runs_here = state.in_flight and transitions[-1].sent is None
                if runs_here:
                    held.row.lease_expires_at = now + timedelta(seconds=self.lease)
                else:
                    held.row.lease_owner = None
                    held.row.lease_expires_at = None
                    released.append(saga_id)
                    if state.status not in ACTIVE_STATUSES:
                        self.stats.finished += 1
                writer.add(held.row, transitions, self.id, now)
                if runs_here:
                    jobs.append(self._job(held, state))
                self.stats.transitions += len(transitions)
            writer.flush()
        for saga_id in released:
            self._forget(saga_id)
        return moved, jobs

    def _advance(self, held: Held, now: datetime) -> list[Any]:
        if held.atomic_job is not None:
            outcome = call_atomic(held.atomic_job)
            held.atomic_job = None
            held.pending = self._outcome_event(outcome)
        state = state_of(held.row)
        assert held.pending is not None
        event, held.pending = held.pending(now), None
        try:
            transitions = [statemachine.apply(held.definition, state, event)]
            state = transitions[-1].state
            if (
                not self._stopping.is_set()
                and state.status in ACTIVE_STATUSES
                and not state.in_flight
                and state.next_run_at <= now
            ):
                transitions.append(statemachine.apply(held.definition, state, Begin(now)))
        except ActionNotAllowed as exc:
            log.error("saga %s: %s; releasing it", held.row.id, exc)
            return []
        return transitions

    def _job(self, held: Held, state: SagaState) -> Job:
        definition = held.definition
        assert definition is not None
        step = definition.steps[state.step]
        context = StepContext(
            saga_id=str(held.row.id),
            saga_type=held.row.saga_type,
            correlation_id=held.row.correlation_id,
            input=held.row.input,
            results=dict(state.results),
            step=step.name,
            phase=Phase(state.phase),
            attempt=state.attempt,
            idempotency_key=state.key,
        )
        attempt = self._attempts.get(
            attempt_key(held.row.id, state.step, state.phase, state.attempt)
        )
        span_id = attempt.span_id if attempt is not None else ""
        return Job(held.row.id, definition, step, context, (held.row.trace_id, span_id))

    # Run

    def _dispatch(self, jobs: list[Job]) -> None:
        """Start the attempts just committed: atomic ones wait for the next commit, timed
        ones go to the pool, quick ones run here and now."""
        self.stats.attempts += len(jobs)
        for job in jobs:
            held = self.held[job.key]
            if job.step.atomic:
                held.atomic_job = job
            elif job.step.timeout:
                held.future = self._runner.submit(job)
                held.future.add_done_callback(lambda _: self._waiter and self._waiter.wake())
                held.deadline = time.monotonic() + job.step.timeout
        for job in jobs:
            if not job.step.atomic and not job.step.timeout:
                self.held[job.key].pending = self._outcome_event(call(job))

    def _collect(self) -> None:
        """Turn finished and overdue pool attempts into pending outcomes."""
        now = time.monotonic()
        for held in self.held.values():
            future = held.future
            if future is None:
                continue
            if future.done():
                held.pending = self._outcome_event(future.result())
            elif now >= held.deadline:
                log.info("saga %s: attempt timed out; its late result will be dropped", held.row.id)
                held.pending = self._outcome_event(Outcome("timed_out", time.time()))
            else:
                continue
            held.future = None

    def _wait_for_steps(self, limit: float) -> None:
        futures = [h.future for h in self.held.values() if h.future is not None]
        if not futures:
            return
        nearest = min(h.deadline for h in self.held.values() if h.future is not None)
        wait(
            futures,
            timeout=max(0.0, min(limit, nearest - time.monotonic())),
            return_when=FIRST_COMPLETED,
        )

    def _outcome_event(self, outcome: Outcome) -> EventMaker:
        rand = random.random()
        offset = self._offset

        def make(now: datetime) -> object:
            at = min(now, datetime.fromtimestamp(outcome.at + offset, tz=UTC))
            if outcome.kind == "succeeded":
                return Succeeded(at, outcome.result)
            if outcome.kind == "timed_out":
                return TimedOut(at, rand)
            assert outcome.error is not None
            return Failed(at, outcome.error, outcome.business, rand)

        return make

    # Bookkeeping

    def _recover_from(self, exc: Exception) -> None:
        """The database failed mid-tick (a restart, a lost connection): the transaction
        rolled back, so in-memory rows may be ahead of the truth. Forget them all, give
        their leases back once the database answers, and carry on."""
        log.warning(
            "worker %s: database error, dropping %d held sagas: %s", self.id, len(self.held), exc
        )
        for saga_id in list(self.held):
            self._forget(saga_id)
        connections.close_all()
        time.sleep(1.0)
        try:
            SagaInstance.objects.filter(lease_owner=self.id).update(
                lease_owner=None, lease_expires_at=None
            )
        except DatabaseError as again:
            log.warning("worker %s: database still unavailable: %s", self.id, again)
            connections.close_all()

    def _drop(self, saga_id: uuid.UUID, why: str) -> None:
        log.warning("worker %s dropped saga %s: %s", self.id, saga_id, why)
        self.stats.lost_leases += 1
        self._forget(saga_id)

    def _forget(self, saga_id: uuid.UUID) -> None:
        with self._lock:
            self.held.pop(saga_id, None)
        prefix = str(saga_id)
        for key in [key for key in self._attempts if key[0] == prefix]:
            del self._attempts[key]

    def _idle(self) -> None:
        if self._stopping.is_set():
            return
        running = [h for h in self.held.values() if h.future is not None]
        if any(h.future.done() for h in running if h.future is not None):
            return
        pause = self.poll_interval
        if running:
            pause = min(pause, min(h.deadline for h in running) - time.monotonic())
        due = SagaInstance.objects.filter(
            status__in=ACTIVE_STATUSES, next_run_at__isnull=False
        ).aggregate(at=Min(Greatest("next_run_at", Coalesce("lease_expires_at", "next_run_at"))))[
            "at"
        ]
        if due is not None:
            pause = min(pause, (due - database_now()).total_seconds())
        if pause > 0 and self._waiter is not None:
            self._waiter.wait(pause)

    def _beat(self) -> None:
        """Extend the leases of held sagas while long steps run."""
        while not self._stopping.wait(self.lease / 3):
            with self._lock:
                ids = list(self.held)
            if not ids:
                continue
            try:
                SagaInstance.objects.filter(id__in=ids, lease_owner=self.id).update(
                    lease_expires_at=Now() + timedelta(seconds=self.lease)
                )
            except Exception as exc:
                log.warning("lease heartbeat failed: %s", exc)
        connections.close_all()

    def _report(self) -> None:
        s = self.stats
        elapsed = time.monotonic() - s.started
        log.info(
            "worker %s: %d transitions, %d attempts, %d sagas finished, %d leases lost in %.0fs",
            self.id,
            s.transitions,
            s.attempts,
            s.finished,
            s.lost_leases,
            elapsed,
        )


def _begin(now: datetime) -> object:
    return Begin(now)


def _definition_changed(why: str) -> EventMaker:
    return lambda now: DefinitionChanged(now, why)


def _recover(
    attempt: StepExecution | None, definition: type[Saga], row: SagaInstance
) -> EventMaker:
    """The event for a saga claimed with an attempt in flight: a remote attempt whose
    reply did not come by its deadline, or a local one whose worker is gone."""
    atomic = definition.steps[row.current_step].atomic

    def make(now: datetime) -> object:
        rand = random.random()
        if (
            attempt is not None
            and attempt.status == AttemptStatus.RUNNING
            and (attempt.deadline is not None and attempt.deadline <= now)
        ):
            # Runs inside the commit: a command taken back undelivered did not happen.
            delivered = attempt.message_id is None or not outbox.withdraw(attempt.message_id)
            return TimedOut(now, rand, delivered=delivered)
        return Lost(now, atomic=atomic, rand=rand)

    return make
