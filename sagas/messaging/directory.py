"""Where each participant lives: reached over HTTP when it has a URL, else through the
database. Read from settings, which read the environment:

    SAGASCOPE_PARTICIPANT_URLS="payment=http://payment:8102,shipping=http://shipping:8103"
    SAGASCOPE_PARTICIPANT_SECRETS="payment=...,shipping=..."
"""

from __future__ import annotations

from django.conf import settings


def mapping(name: str) -> dict[str, str]:
    value = getattr(settings, name, {}) or {}
    if isinstance(value, str):
        pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
        return {k.strip(): v.strip() for k, v in pairs}
    return dict(value)


def url(participant: str) -> str | None:
    return mapping("SAGASCOPE_PARTICIPANT_URLS").get(participant) or None


def secret(participant: str) -> str:
    return mapping("SAGASCOPE_PARTICIPANT_SECRETS").get(participant, "")


def http_participants() -> list[str]:
    return sorted(mapping("SAGASCOPE_PARTICIPANT_URLS"))
