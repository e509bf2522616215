"""The worker loop: claim due sagas, commit their transitions in batches, run their steps.

One tick: claim up to `batch_size` due sagas (one statement), then one transaction that
locks the sagas this worker still holds (checking each lease epoch), applies every pending
outcome through the state machine, starts the next attempts, and writes it all in bulk;
then the attempts run outside any transaction and their outcomes wait for the next tick.
A saga stays with its worker while it makes progress and is released when it waits
(backoff) or ends. A worker killed at any instant loses nothing: its leases expire and
another worker's claim recovers each saga from its last commit.

A tick asks the database only about work it has reason to expect: a kind it was told of by
NOTIFY (wakeup.py), more of what filled its last batch, sagas due by their clock (claims at
least every CLAIM_EVERY seconds), and every kind once a poll interval, the safety net for a
missed notification. A worker advancing a saga it holds thus commits step after step with
no other query between them.

One saga never stops the others: a batch whose commit fails is committed again saga by
saga, and a saga that fails alone is stopped for an operator with the reason; a tick's
unexpected error is logged and the loop goes on. A timed-out local attempt's thread
cannot be killed, so its saga is not run again (retry or compensation) until the thread
ends or this worker dies: `busy_until`, renewed while the thread lives.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connections, transaction

from sagas import conf
from sagas.definition import Saga, StepContext
from sagas.engine import leases, problems, statemachine
from sagas.engine.heartbeats import Pulse
from sagas.engine.leases import claim_rows, lock_fenced
from sagas.engine.runner import Job, Outcome, Runner, call, call_atomic
from sagas.engine.state import Begin, SagaState
from sagas.engine.store import LEASE_FIELDS, AttemptKey, TransitionWriter, attempt_key, state_of
from sagas.engine.wakeup import BULK, EVERYTHING, REPLY, SAGA, Waiter
from sagas.exceptions import ActionNotAllowed
from sagas.messaging import outbox
from sagas.models import SagaInstance, StepAttempt
from sagas.registry import registry
from sagas.services import bulk, replies
from sagas.statuses import ACTIVE_STATUSES, Phase
from sagas.transient import is_transient

from . import events
from .alerting import AlertLoop
from .events import EventMaker
from .pruning import PruneLoop
from .report import Figures, Reporter
from .stragglers import Stragglers

log = logging.getLogger("sagas.worker")

# How long a busy worker goes between claims when nothing announced a due saga: sagas also
# fall due by the clock (a backoff ends, a remote step's deadline passes, a dead worker's
# lease lapses), which no NOTIFY announces.
CLAIM_EVERY = 0.05

REPORT_SECONDS = 10  # how often the worker logs what it did (and how many sagas ended)


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
    lost_leases: int = 0


class Worker:
    def __init__(
        self,
        worker_id: str | None = None,
        batch_size: int | None = None,
        lease_seconds: float | None = None,
        poll_interval: float | None = None,
        threads: int = 16,
        heartbeat: bool = True,
        alerts: bool | None = None,
        prune: bool | None = None,
    ) -> None:
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size or conf.batch_size()
        self.lease = lease_seconds or conf.lease_seconds()
        self.poll_interval = poll_interval if poll_interval is not None else conf.poll_interval()
        self.held: dict[uuid.UUID, Held] = {}
        self.stats = Stats()
        self._attempts: dict[AttemptKey, StepAttempt] = {}
        self._runner = Runner(threads)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._offset = 0.0  # database clock minus this machine's clock, seen at each commit
        self._heartbeat = threading.Thread(target=self._beat, daemon=True) if heartbeat else None
        # The process's own row, for the Workers page: beaten with the leases.
        self._pulse = Pulse("worker", self.id, self.lease) if heartbeat else None
        self._waiter: Waiter | None = None
        self._stragglers = Stragglers(self.lease, conf.abandon_after())
        alerting = conf.alerts_enabled() if alerts is None else alerts
        self._alerts = AlertLoop(self.id) if alerting else None
        pruning = conf.prune_enabled() if prune is None else prune
        self._pruner = PruneLoop(self.id) if pruning else None
        self._told: frozenset[str] = EVERYTHING  # the kinds of work to look for this tick
        self._heard: frozenset[str] = frozenset()  # the kinds NOTIFY announced for it
        self._swept = self._claimed_at = 0.0  # monotonic times of the last sweep and claim
        self._more: set[str] = set()  # kinds whose last look filled a batch: look again
        self._reporter: Reporter | None = None
        self._last_report = time.monotonic()

    # The loop

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Work until stop() (SIGTERM) or `until()`; then finish current steps and release."""
        log.info("worker %s started (batch %d, lease %ss)", self.id, self.batch_size, self.lease)
        self.listen()
        if self._heartbeat is not None:
            self._pulse_beat()
            self._heartbeat.start()
        if self._alerts is not None:
            self._alerts.start()
        if self._pruner is not None:
            self._pruner.start()
        self._reporter = Reporter(self.id)
        self._last_report = last_watch = time.monotonic()
        try:
            while not self._stopping.is_set() and not (until and until()):
                try:
                    if time.monotonic() - last_watch > conf.watch_seconds():
                        last_watch = time.monotonic()
                        self.watch()
                    if self.tick() == 0:
                        self._idle()
                except DatabaseError as exc:
                    self._recover_from(exc)
                except Exception as exc:  # a crash loop is the worst outcome: log, go on
                    log.exception("worker %s: tick failed, holding %s", self.id, self._held_ids())
                    self._recover_from(exc)
                if time.monotonic() - self._last_report > REPORT_SECONDS:
                    self._report()
            self.drain()
            self._stragglers.wait_all(self.id)
        finally:
            if self._alerts is not None:
                self._alerts.stop()
            if self._pruner is not None:
                self._pruner.stop()
            self._waiter.close()
            self._runner.close()
            self._stopping.set()
            self._report()
            if self._pulse is not None:
                self._pulse.gone()
            connections.close_all()

    def listen(self) -> Waiter:
        """Hear notifications from now on: wake-ups, and what kind of work was announced."""
        if self._waiter is None:
            self._waiter = Waiter()
        return self._waiter

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
        self._told = self._listen()
        applied = self._replies()
        self._stragglers.release(self.id)
        self._claim()
        self._collect()
        ready = [saga_id for saga_id, held in self.held.items() if held.ready]
        if not ready:
            return applied
        moved, jobs = self._commit_isolating(ready)
        self._dispatch(jobs)
        return moved + applied

    def watch(self) -> None:
        """Count the sagas that stopped moving into their problems (and out, once they
        move); never in the way of the sagas themselves."""
        try:
            stuck, moved = problems.regroup_stuck(leases.database_now())
        except Exception as exc:  # the sagas come first: log it, try again next time
            log.warning("worker %s: could not look for stuck sagas: %s", self.id, exc)
            return
        if stuck or moved:
            log.info("worker %s: %d sagas newly stuck, %d moved again", self.id, stuck, moved)

    def _listen(self) -> frozenset[str]:
        """The kinds of work to look for now: those announced since the last tick, those
        whose last look filled a batch, and every kind once a poll interval."""
        self._heard = self._waiter.heard() if self._waiter is not None else frozenset()
        told = set(self._heard if self._waiter is not None else EVERYTHING)
        told |= self._more
        now = time.monotonic()
        if now - self._swept >= self.poll_interval:
            self._swept = now
            told |= EVERYTHING
        if now - self._claimed_at >= CLAIM_EVERY:
            told.add(SAGA)
        return frozenset(told)

    def _replies(self) -> int:
        """Apply replies the participants queued, and bulk-operation items operators asked
        for; each one moves a saga through the same transitions as anything else."""
        if self._stopping.is_set():
            return 0
        moved = 0
        # Announced replies are taken at once (the claim says if any are left); a sweep
        # asks first, as a look that finds nothing is cheaper than a claim.
        if REPLY in self._heard or (REPLY in self._told and outbox.pending_replies_exist()):
            taken = replies.consume(self.batch_size)
            self._more_of(REPLY, taken >= self.batch_size)
            moved += taken
        else:
            self._more_of(REPLY, False)
        if BULK in self._told and bulk.pending_exist():
            taken = bulk.work()
            self._more_of(BULK, taken > 0)
            moved += taken
        else:
            self._more_of(BULK, False)
        return moved

    def _more_of(self, kind: str, more: bool) -> None:
        if more:
            self._more.add(kind)
        else:
            self._more.discard(kind)

    # Claim

    def _claim(self) -> None:
        room = 0 if self._stopping.is_set() else self.batch_size - len(self.held)
        if room <= 0 or SAGA not in self._told:
            return
        self._claimed_at = time.monotonic()
        rows = claim_rows(self.id, room, self.lease)
        self._more_of(SAGA, len(rows) >= room)
        if not rows:
            return
        running = leases.running_attempts(r for r in rows if r.in_flight)
        for attempt in running.values():
            key = attempt_key(attempt.saga_id, attempt.step_index, attempt.phase, attempt.attempt)
            self._attempts[key] = attempt
        for row in rows:
            definition = registry.find(row.saga_type)
            held = Held(row, row.lease_epoch, definition, events.begin)
            try:
                if definition is None:
                    why = f"saga type '{row.saga_type}' is no longer defined in this code"
                    held.pending = events.definition_changed(why)
                elif (why := definition.incompatibility(list(row.definition_steps))) is not None:
                    held.pending = events.definition_changed(why)
                elif row.in_flight:
                    held.pending = events.recover(running.get(row.id), definition, row)
            except Exception as exc:  # a row this code cannot read: stop it, alone
                log.exception("worker %s: saga %s cannot be resumed", self.id, row.id)
                held.pending = events.broken(f"{type(exc).__name__}: {exc}")
            with self._lock:
                self.held[row.id] = held

    # Commit

    def _commit_isolating(self, ready: list[uuid.UUID]) -> tuple[int, list[Job]]:
        """Commit the batch; if it fails for a reason other than the database's, commit
        each saga alone, and stop for an operator the one that still fails."""
        saved = {i: (self.held[i].pending, self.held[i].atomic_job) for i in ready}
        try:
            return self._commit(ready)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning(
                "worker %s: a batch of %d failed (%s); one by one", self.id, len(ready), exc
            )
        moved, jobs = 0, []
        for saga_id in ready:
            if saga_id not in self.held:
                continue  # lost its lease in the failed batch
            if not self._restore(saga_id, *saved[saga_id]):
                continue
            try:
                one_moved, one_jobs = self._commit([saga_id])
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.exception("worker %s: saga %s could not be advanced", self.id, saga_id)
                self._stop_saga(saga_id, exc)
                continue
            moved += one_moved
            jobs += one_jobs
        return moved, jobs

    def _restore(self, saga_id: uuid.UUID, pending: EventMaker | None, job: Job | None) -> bool:
        """Undo what a rolled-back commit did to a held saga in memory."""
        held = self.held[saga_id]
        held.pending, held.atomic_job = pending, job
        prefix = str(saga_id)
        for key in [key for key in self._attempts if key[0] == prefix]:
            del self._attempts[key]
        try:
            held.row.refresh_from_db()
        except SagaInstance.DoesNotExist:
            self._forget(saga_id)
            return False
        return True

    def _stop_saga(self, saga_id: uuid.UUID, exc: Exception) -> None:
        """Fail a saga whose transition cannot be written, with the error as the reason; if
        even that cannot be written, put it off for a minute and let its lease go."""
        held = self.held.get(saga_id)
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        try:
            with transaction.atomic():
                fenced, now = lock_fenced([saga_id], self.id)
                if held is not None and fenced.get(saga_id) == held.epoch and now is not None:
                    row = SagaInstance.objects.get(id=saga_id)
                    transition = statemachine.apply(
                        held.definition, state_of(row), events.broken(reason)(now)
                    )
                    row.lease_owner = None
                    row.lease_expires_at = None
                    writer = TransitionWriter()
                    writer.add(row, [transition], self.id, now)
                    writer.flush()
        except Exception:
            log.exception(
                "worker %s: saga %s could not even be stopped; retrying it in 60s", self.id, saga_id
            )
            try:
                leases.put_off(saga_id, self.id, 60)
            except DatabaseError as again:
                log.warning("worker %s: could not put saga %s off: %s", self.id, saga_id, again)
        self._forget(saga_id)

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
                    writer.tally.add("lease_losses")
                    continue
                waiting = saga_id in self._stragglers
                transitions = self._advance(held, now, begin=not waiting)
                if not transitions:
                    released.append(saga_id)  # its lease lapses; logged in _advance
                    continue
                moved += 1
                state = transitions[-1].state
                if waiting:  # nobody runs it again while the timed-out thread may still act
                    held.row.busy_until = now + timedelta(seconds=self.lease)
                # A local attempt runs here, under this lease; a remote one waits for its
                # reply (or its deadline) with no lease held.
                runs_here = state.in_flight and transitions[-1].sent is None
                if runs_here:
                    held.row.lease_expires_at = now + timedelta(seconds=self.lease)
                else:
                    held.row.lease_owner = None
                    held.row.lease_expires_at = None
                    released.append(saga_id)
                writer.add(held.row, transitions, self.id, now)
                if runs_here:
                    jobs.append(self._job(held, state))
                self.stats.transitions += len(transitions)
            writer.flush(extra_fields=[*LEASE_FIELDS, "busy_until"])
        for saga_id in released:
            self._forget(saga_id)
        return moved, jobs

    def _advance(self, held: Held, now: datetime, begin: bool = True) -> list[Any]:
        if held.atomic_job is not None:
            outcome = call_atomic(held.atomic_job)
            held.atomic_job = None
            held.pending = self._outcome(outcome)
        state = state_of(held.row)
        assert held.pending is not None
        event, held.pending = held.pending(now), None
        try:
            transitions = [statemachine.apply(held.definition, state, event)]
            state = transitions[-1].state
            if (
                begin
                and not self._stopping.is_set()
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
                self.held[job.key].pending = self._outcome(call(job))

    def _collect(self) -> None:
        """Turn finished and overdue pool attempts into pending outcomes."""
        now = time.monotonic()
        for held in self.held.values():
            future = held.future
            if future is None:
                continue
            if future.done():
                held.pending = self._outcome(future.result())
            elif now >= held.deadline:
                log.info("saga %s: attempt timed out; its late result will be dropped", held.row.id)
                held.pending = self._outcome(Outcome("timed_out", time.time()))
                self._stragglers.add(held.row.id, future)
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

    def _outcome(self, outcome: Outcome) -> EventMaker:
        return events.outcome(outcome, self._offset)

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
            leases.release_all(self.id)
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
        until_due = leases.seconds_until_due()
        if until_due is not None:
            pause = min(pause, until_due)
        if pause > 0 and self._waiter is not None:
            self._waiter.wait(pause)
        if until_due is not None and until_due <= pause:
            self._claimed_at = 0.0  # a saga fell due by the clock: claim it at once

    def _beat(self) -> None:
        """Extend the leases of held sagas while long steps run, and the wait of the sagas
        whose timed-out attempts' threads still run."""
        while not self._stopping.wait(self.lease / 3):
            with self._lock:
                ids = list(self.held)
            try:
                if ids:
                    leases.renew(ids, self.id, self.lease)
                self._stragglers.renew()
            except Exception as exc:
                log.warning("lease heartbeat failed: %s", exc)
            self._pulse_beat()
        connections.close_all()

    def _pulse_beat(self) -> None:
        if self._pulse is None or (self._stopping.is_set() and self._pulse.beaten):
            return
        try:
            self._pulse.beat(len(self.held), self.stats.transitions)
        except Exception as exc:  # the page shows it red; the leases matter more
            log.warning("process heartbeat failed: %s", exc)

    def _held_ids(self) -> list[str]:
        return [str(saga_id) for saga_id in list(self.held)[:20]]

    def _report(self) -> None:
        if self._reporter is None:
            return
        now, s = time.monotonic(), self.stats
        done = Figures(s.transitions, s.attempts, s.lost_leases)
        log.info("%s", self._reporter.report(now - self._last_report, done))
        self._last_report = now
