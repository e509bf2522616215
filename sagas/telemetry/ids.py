"""Span and trace ids chosen ahead of export, through an IdGenerator that can be preset."""

from __future__ import annotations

import contextvars
import random
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

_preset: contextvars.ContextVar[tuple[int | None, int | None]] = contextvars.ContextVar(
    "sagascope_preset_ids", default=(None, None)
)
_random = random.SystemRandom()


def new_trace_id() -> str:
    return f"{_random.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{_random.getrandbits(64) or 1:016x}"


class PresetIdGenerator(IdGenerator):
    """Random ids, except inside `preset(...)`, which hands out the ids given there."""

    def __init__(self) -> None:
        self._fallback = RandomIdGenerator()

    def generate_span_id(self) -> int:
        span_id = _preset.get()[1]
        return span_id if span_id else self._fallback.generate_span_id()

    def generate_trace_id(self) -> int:
        trace_id = _preset.get()[0]
        return trace_id if trace_id else self._fallback.generate_trace_id()


@contextmanager
def preset(trace_id: str | None, span_id: str) -> Iterator[None]:
    token = _preset.set((int(trace_id, 16) if trace_id else None, int(span_id, 16)))
    try:
        yield
    finally:
        _preset.reset(token)
