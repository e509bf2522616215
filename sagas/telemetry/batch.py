"""Spans decided inside a transaction, exported only after it commits."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction

from . import spans
from .setup import main_provider

if TYPE_CHECKING:
    from sagas.models import OutboxMessage, SagaInstance, StepAttempt


class SpanBatch:
    """Collects span exports; `send_on_commit` schedules them for after the commit."""

    def __init__(self) -> None:
        self._on = main_provider() is not None  # no provider: skip the work entirely
        self._pending: list[Callable[[], None]] = []

    def attempt(self, saga: SagaInstance | None, attempt: StepAttempt) -> None:
        if self._on and saga is not None and saga.trace_id:
            saga, attempt = copy.copy(saga), copy.copy(attempt)
            self._pending.append(lambda: spans.emit_attempt(saga, attempt))

    def producer(
        self, saga: SagaInstance, message: OutboxMessage, attempt_span_id: str, span_id: str
    ) -> None:
        if self._on and saga.trace_id:
            saga = copy.copy(saga)
            self._pending.append(
                lambda: spans.emit_producer(saga, message, attempt_span_id, span_id)
            )

    def saga(self, saga: SagaInstance) -> None:
        if self._on and saga.trace_id:
            saga = copy.copy(saga)
            self._pending.append(lambda: spans.emit_saga(saga))

    def send_on_commit(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            transaction.on_commit(lambda: [send() for send in pending])
