"""What makes two failures the same problem: the saga type, the step, the phase, the error's
class and its message with the parts that vary from saga to saga (ids, numbers, amounts,
times, quoted values) replaced by placeholders. Pure functions; the store groups by them.

"payment for order 8812 declined: card 4242 over limit (EUR 1,250.00)" and "payment for
order 9 declined: card 5555 over limit (EUR 80.10)" are one problem; the same message from
another step, or raised by another class, is another.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_MESSAGE = 500  # characters of the normalised message kept (and hashed)

# Order matters: the specific shapes first, so a UUID is not read as hex, then as numbers.
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I), "<uuid>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<address>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\""), "<value>"),
    (re.compile(r"[-+]?(?:\d[\d,_]*)(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<n>"),
]
SPACES = re.compile(r"\s+")


def normalise(message: str) -> str:
    """The message with its variable parts replaced, whitespace collapsed, bounded."""
    text = message[: MAX_MESSAGE * 4]
    for pattern, placeholder in PATTERNS:
        text = pattern.sub(placeholder, text)
    return SPACES.sub(" ", text).strip()[:MAX_MESSAGE]


@dataclass(frozen=True)
class Cause:
    """Why a saga needs an operator, as the grouping sees it."""

    saga_type: str
    step: str
    phase: str
    error_type: str
    message: str  # normalised

    @property
    def fingerprint(self) -> str:
        parts = [self.saga_type, self.step, self.phase, self.error_type, self.message]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def cause(saga_type: str, step: str, phase: str, error_type: str, message: str) -> Cause:
    return Cause(saga_type, step, phase, error_type or "Error", normalise(message or ""))
