"""The two transports, behind one interface (base.Transport)."""

from __future__ import annotations

from .base import DeliveryError, Transport
from .database import DatabaseTransport
from .http import HttpTransport

__all__ = ["DatabaseTransport", "DeliveryError", "HttpTransport", "Transport"]
