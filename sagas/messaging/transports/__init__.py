"""The two transports: the outbox table itself (database.py) and signed HTTP (http.py)."""

from __future__ import annotations

from .database import DatabaseTransport
from .http import DeliveryError, HttpTransport

__all__ = ["DatabaseTransport", "DeliveryError", "HttpTransport"]
