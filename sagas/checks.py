"""Deploy checks (`manage.py check --deploy`): a SECRET_KEY or a participant secret that is
weak or published is an error outside DEBUG, so a deployment that runs the check refuses to
start with it; a /metrics nobody may read, or a bad allow-list entry, is a warning.
Development (DEBUG, or a plain `check`) is left alone."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from sagas import conf
from sagas.messaging import directory

GENERATE = "Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"

# Values printed in this repository's history (settings, docker-compose.yml): anyone can
# sign sessions or participant replies with them.
PUBLISHED_SECRET_KEYS = frozenset(
    {"django-insecure-sagascope-development-key-only", "dev-only-change-me"}
)
PUBLISHED_PARTICIPANT_SECRETS = frozenset({"dev-only-payment", "dev-only-shipping"})

# Django's own thresholds for SECRET_KEY (security.W009), raised here from a warning.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 5
INSECURE_PREFIX = "django-insecure-"
# HMAC-SHA256 keys: 32 characters of token_urlsafe carry more than 128 bits.
PARTICIPANT_SECRET_MIN_LENGTH = 32


@register(Tags.security, deploy=True)
def check_secrets(app_configs: Any, **kwargs: Any) -> list[Error]:
    if settings.DEBUG:
        return []
    return [
        *_secret_key_errors(settings.SECRET_KEY),
        *_participant_errors(),
        *_sensitive_key_errors(),
    ]


def _sensitive_key_errors() -> list[Error]:
    """SAGASCOPE_SENSITIVE_KEY, when set, keys the hashes of sensitive fields: short, it
    lets anyone who reads the database guess card numbers by hashing them all. Unset, the
    key is derived from SECRET_KEY, which E001 checks."""
    key = str(getattr(settings, "SAGASCOPE_SENSITIVE_KEY", "") or "")
    if not key or len(key) >= PARTICIPANT_SECRET_MIN_LENGTH:
        return []
    return [
        Error(
            f"SAGASCOPE_SENSITIVE_KEY is shorter than {PARTICIPANT_SECRET_MIN_LENGTH} "
            "characters: it keys the hashes that search compares for sensitive fields.",
            hint=f"Set it to a fresh random value, or unset it to derive one from SECRET_KEY. "
            f"{GENERATE}",
            id="sagas.E003",
        )
    ]


def _secret_key_errors(key: str) -> list[Error]:
    problem = _secret_key_problem(key)
    if not problem:
        return []
    return [
        Error(
            f"SECRET_KEY {problem}: anyone who knows or guesses it can forge sessions "
            "and signed tokens.",
            hint=f"Set SECRET_KEY in the environment to a fresh random value. {GENERATE}",
            id="sagas.E001",
        )
    ]


def _secret_key_problem(key: str) -> str:
    if key in PUBLISHED_SECRET_KEYS:
        return "is a published development value"
    if key.startswith(INSECURE_PREFIX):
        return f"starts with {INSECURE_PREFIX!r}, Django's mark of a generated development key"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return f"has fewer than {SECRET_KEY_MIN_DISTINCT} distinct characters"
    return ""


def _participant_errors() -> list[Error]:
    secrets = directory.mapping("SAGASCOPE_PARTICIPANT_SECRETS")
    # Every participant that has a secret, and every one reached over HTTP, which needs one.
    names = sorted(set(secrets) | set(directory.http_participants()))
    errors = []
    for name in names:
        problem = _participant_problem(secrets.get(name, ""))
        if problem:
            errors.append(
                Error(
                    f"participant {name!r} {problem} in SAGASCOPE_PARTICIPANT_SECRETS: "
                    "its commands and replies are signed with it.",
                    hint=f"Set {name}=<secret> in SAGASCOPE_PARTICIPANT_SECRETS. {GENERATE}",
                    id="sagas.E002",
                )
            )
    return errors


def _participant_problem(secret: str) -> str:
    if not secret:
        return "has no secret"
    if secret in PUBLISHED_PARTICIPANT_SECRETS:
        return "has a published development value as its secret"
    if len(secret) < PARTICIPANT_SECRET_MIN_LENGTH:
        return f"has a secret shorter than {PARTICIPANT_SECRET_MIN_LENGTH} characters"
    return ""


@register(Tags.security, deploy=True)
def check_metrics(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if settings.DEBUG:
        return []
    warnings = []
    allowed = conf.metrics_allow()
    if not conf.metrics_token() and not allowed:
        warnings.append(
            Warning(
                "/metrics refuses every scrape: neither SAGASCOPE_METRICS_TOKEN nor "
                "SAGASCOPE_METRICS_ALLOW is set.",
                hint="Set SAGASCOPE_METRICS_TOKEN and give your scraper the same value as "
                f"its bearer token. {GENERATE}",
                id="sagas.W003",
            )
        )
    for entry in allowed:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            warnings.append(
                Warning(
                    f"SAGASCOPE_METRICS_ALLOW entry {entry!r} is not an address or a network; "
                    "it admits nobody.",
                    hint="Write addresses or CIDR networks, comma-separated: 10.0.0.0/8,127.0.0.1",
                    id="sagas.W004",
                )
            )
    return warnings
