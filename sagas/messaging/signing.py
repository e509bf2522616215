"""HMAC signatures on messages that cross HTTP, with a per-participant secret.

`X-Sagascope-Signature: v1=<hex>` is HMAC-SHA256 over `<timestamp>.<body>`, where the
timestamp is `X-Sagascope-Timestamp` (Unix seconds). A signature older or newer than the
window is refused as a replay; so is a message id seen before (the receiver checks that).
"""

from __future__ import annotations

import hashlib
import hmac
import time

PARTICIPANT = "X-Sagascope-Participant"
TIMESTAMP = "X-Sagascope-Timestamp"
SIGNATURE = "X-Sagascope-Signature"
WINDOW_SECONDS = 300


class BadSignature(Exception):
    """The signature is missing or does not match: the message is forged or corrupted."""


class Replayed(Exception):
    """The signature is valid but outside the time window, or the message was seen before."""


def sign(secret: str, body: bytes, participant: str, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {PARTICIPANT: participant, TIMESTAMP: timestamp, SIGNATURE: f"v1={digest.hexdigest()}"}


def verify(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> None:
    """Raise BadSignature or Replayed; return quietly when the message is authentic."""
    if not secret or not timestamp or not signature or not signature.startswith("v1="):
        raise BadSignature("missing or malformed signature headers")
    # compare_digest refuses non-ASCII str (TypeError): a header is whatever a client sent.
    if not (signature.isascii() and timestamp.isascii() and timestamp.isdigit()):
        raise BadSignature("malformed signature headers: they must be ASCII, the timestamp digits")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest().encode(), signature[3:].encode()):
        raise BadSignature("signature does not match")
    age = abs((now if now is not None else time.time()) - int(timestamp))
    if age > WINDOW_SECONDS:
        raise Replayed(f"timestamp is {int(age)} s away from now; the window is {WINDOW_SECONDS} s")
