"""What a browser may send on a live socket, and the error frames it gets otherwise.

The socket carries no commands (actions are HTTP POSTs): a client may only ping, or ask
for a replay of what it missed. Anything else is answered with an error frame; the
connection stays open and the server never crashes on a frame.
"""

from __future__ import annotations

import json
from typing import Any

from sagas.exceptions import SagaError

from ..filters import MAX_EVENT_ID


class FrameError(SagaError):
    """The frame is not one this socket accepts."""

    code = "bad_frame"

    def frame(self) -> dict[str, Any]:
        return {"type": "error", "code": self.code, "error": str(self)}


class FrameTooLarge(FrameError):
    """The frame is larger than the server accepts."""

    code = "too_large"


class FrameNotJson(FrameError):
    """The frame is not a JSON object with a "type"."""

    code = "bad_json"


class RateLimited(FrameError):
    """Too many frames; the ones past the limit were dropped unread. Slow down."""

    code = "rate_limited"


class UnknownFrame(FrameError):
    """Unknown frame type; this socket takes "ping" and "replay"."""

    code = "unknown_type"


def parse(text: str | None, binary: bytes | None, max_bytes: int) -> dict[str, Any]:
    """The frame as a dict with a string "type"; FrameError says what was wrong."""
    if binary is not None:
        raise FrameNotJson("binary frames are not accepted; send JSON text")
    raw = text or ""
    # Characters first: a huge frame is refused without first being copied as bytes.
    if len(raw) > max_bytes or len(raw.encode("utf-8", "replace")) > max_bytes:
        raise FrameTooLarge(f"frames are limited to {max_bytes} bytes")
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." deeper than Python goes
        raise FrameNotJson() from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameNotJson()
    return frame


def event_id(frame: dict[str, Any], name: str = "after") -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EVENT_ID:
        raise FrameError(f'"{name}" must be an event id (a whole number)')
    return value
