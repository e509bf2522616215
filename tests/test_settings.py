"""Settings come from the environment: `check --deploy` is clean with a production
environment and fails on each insecure value, the development SECRET_KEY included."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# Every variable the production settings read, cleared so the machine's own cannot leak in.
DEPLOY_VARIABLES = (
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
)


def run_deploy_check(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in DEPLOY_VARIABLES}
    environment.update({"DJANGO_SETTINGS_MODULE": "dashboard.settings", **env})
    return subprocess.run(
        # --fail-level WARNING: a deploy warning fails the command, as it should in CI.
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )


def deploy_check(**env: str) -> str:
    result = run_deploy_check(**env)
    return result.stdout + result.stderr


def production(**changes: str) -> dict[str, str]:
    """The environment of a deployment behind TLS, as the README describes it."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),  # 67 characters, fresh for every run
        "DEBUG": "0",
        "ALLOWED_HOSTS": "sagas.example.com",
        "SESSION_COOKIE_SECURE": "1",
        "CSRF_COOKIE_SECURE": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
        **changes,
    }


def test_check_deploy_is_clean_with_production_settings():
    result = run_deploy_check(**production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"SECRET_KEY": ""}, "security.W009"),  # unset: the development key
        ({"SECRET_KEY": "short"}, "security.W009"),
        ({"DEBUG": "1"}, "security.W018"),
        ({"SESSION_COOKIE_SECURE": "0"}, "security.W012"),
        ({"CSRF_COOKIE_SECURE": "0"}, "security.W016"),
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": "0"}, "security.W005"),
        ({"SECURE_HSTS_PRELOAD": "0"}, "security.W021"),
    ],
)
def test_check_deploy_fails_on_each_insecure_setting(change, warning):
    result = run_deploy_check(**production(**change))
    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


def test_the_development_secret_key_is_flagged_and_a_real_one_is_not():
    assert "security.W009" in deploy_check()
    assert "security.W009" not in deploy_check(SECRET_KEY="x" * 20 + os.urandom(24).hex())


def test_database_and_channel_layer_follow_the_environment():
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "DATABASE_URL": "postgres://u@h:5432/d",
        "REDIS_URL": "redis://localhost:6379/0",
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer"]
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer"]


def test_every_middleware_is_async_capable():
    # One sync-only middleware makes Django run each request under daphne on a thread that
    # waits for the event loop; a request in flight at SIGTERM then hangs the server.
    from django.conf import settings
    from django.utils.module_loading import import_string

    sync_only = [
        path
        for path in settings.MIDDLEWARE
        if not getattr(import_string(path), "async_capable", False)
    ]
    assert sync_only == []
