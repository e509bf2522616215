"""Settings come from the environment: `check --deploy` is clean with a production
environment and fails on each insecure value, the development SECRET_KEY included; weak or
published secrets are errors (sagas/checks.py), so `--fail-level ERROR` refuses them too."""

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
    "SAGASCOPE_PARTICIPANT_URLS",
    "SAGASCOPE_PARTICIPANT_SECRETS",
    "SAGASCOPE_METRICS_TOKEN",
    "SAGASCOPE_METRICS_ALLOW",
)


def run_deploy_check(
    fail_level: str = "WARNING", deploy: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in DEPLOY_VARIABLES}
    environment.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run(
        # --fail-level WARNING: a deploy warning fails the command, as it should in CI.
        [
            sys.executable,
            "manage.py",
            "check",
            *(["--deploy"] * deploy),
            "--fail-level",
            fail_level,
        ],
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
        "SAGASCOPE_PARTICIPANT_URLS": "payment=http://payment:8102,shipping=http://shipping:8103",
        "SAGASCOPE_PARTICIPANT_SECRETS": participant_secrets(),
        "SAGASCOPE_METRICS_TOKEN": secrets.token_urlsafe(32),
        **changes,
    }


def participant_secrets(**changes: str) -> str:
    """Fresh secrets for the participants reached over HTTP, with `changes` (name=value)."""
    values = {"payment": secrets.token_urlsafe(32), "shipping": secrets.token_urlsafe(32)}
    return ",".join(f"{name}={value}" for name, value in {**values, **changes}.items())


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
        ({"SAGASCOPE_METRICS_TOKEN": ""}, "sagas.W003"),  # /metrics open to nobody
        ({"SAGASCOPE_METRICS_ALLOW": "10.0.0.0/8,not-a-network"}, "sagas.W004"),
    ],
)
def test_check_deploy_fails_on_each_insecure_setting(change, warning):
    result = run_deploy_check(**production(**change))
    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "published development value"),  # unset: the settings' development key
        ("django-insecure-sagascope-development-key-only", "published development value"),
        ("dev-only-change-me", "published development value"),  # docker-compose.yml's, once
        ("short-but-random-Xq3v9", "shorter than 50 characters"),
        ("abcd" * 20, "fewer than 5 distinct characters"),
        ("django-insecure-" + "a1B2c3D4e5F6g7H8i9J0" * 3, "django-insecure-"),
    ],
)
def test_a_weak_or_published_secret_key_is_an_error_that_stops_a_deployment(key, problem):
    # --fail-level ERROR is what docker-compose.yml's migrate service runs: errors stop it.
    result = run_deploy_check("ERROR", **production(SECRET_KEY=key))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "sagas.E001" in output and "SECRET_KEY" in output and problem in output, output
    assert GENERATE in output
    if key:
        assert key not in output  # the message names the setting, not its value


@pytest.mark.parametrize(
    ("participant", "secret", "problem"),
    [
        ("payment", "dev-only-payment", "published development value"),
        ("shipping", "dev-only-shipping", "published development value"),
        ("shipping", "only-31-characters-long-secret!", "shorter than 32 characters"),
        ("payment", "", "no secret"),  # reached over HTTP, but nothing to sign with
    ],
)
def test_a_weak_published_or_missing_participant_secret_is_an_error_naming_it(
    participant, secret, problem
):
    secrets_value = participant_secrets(**{participant: secret})
    result = run_deploy_check("ERROR", **production(SAGASCOPE_PARTICIPANT_SECRETS=secrets_value))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "sagas.E002" in output and f"participant {participant!r}" in output, output
    assert problem in output and GENERATE in output, output
    assert output.count("sagas.E002") == 1  # the other participant's secret is fine
    if secret:
        assert secret not in output


def test_participant_secrets_given_as_a_dict_are_checked_too(settings):
    from sagas.checks import check_secrets

    settings.DEBUG = False
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    settings.SAGASCOPE_PARTICIPANT_URLS = {"payment": "http://payment:8102"}
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": "dev-only-payment"}
    errors = check_secrets(None)
    assert [(e.id, "'payment'" in e.msg) for e in errors] == [("sagas.E002", True)]
    settings.SAGASCOPE_PARTICIPANT_SECRETS = {"payment": secrets.token_urlsafe(32)}
    assert check_secrets(None) == []


def test_the_secret_checks_leave_development_alone():
    # DEBUG on: a developer's machine (check --deploy still warns that DEBUG is on).
    debug = run_deploy_check("ERROR", **production(DEBUG="1", SECRET_KEY=""))
    assert debug.returncode == 0 and "sagas.E00" not in debug.stdout + debug.stderr
    # A plain check (manage.py demo, the test runs) on the development key passes.
    plain = run_deploy_check("ERROR", deploy=False)
    assert plain.returncode == 0 and "sagas.E00" not in plain.stdout + plain.stderr


def test_the_development_secret_key_is_flagged_and_a_real_one_is_not():
    assert "security.W009" in deploy_check()
    assert "security.W009" not in deploy_check(SECRET_KEY="x" * 20 + os.urandom(24).hex())


def printed(code: str, env: dict[str, str]) -> str:
    """What `code` prints in a fresh process with Django set up under `env`."""
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_database_and_channel_layer_follow_the_environment():
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgres://u@h:5432/d",
        "REDIS_URL": "redis://localhost:6379/0",
    }
    out = printed(code, env)
    assert out.split() == ["django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer"]
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    out = printed(code, env)
    assert out.split() == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer"]


def test_the_knobs_the_readme_lists_are_read_from_the_environment():
    knobs = {
        "SAGASCOPE_LIVE_FRAME_BURST": "3",
        "SAGASCOPE_LIVE_FRAMES_PER_SECOND": "2.5",
        "SAGASCOPE_LIVE_SOCKETS_PER_USER": "4",
        "SAGASCOPE_RELAY_VISIBILITY": "2",
        "SAGASCOPE_CIRCUIT_FAILURES": "9",
        "SAGASCOPE_ABANDON_AFTER": "60",
    }
    code = (
        "from sagas import conf; from dashboard import conf as d; "
        "print(d.frame_burst(), d.frames_per_second(), d.live_sockets_per_user(), "
        "conf.relay_visibility(), conf.circuit_failures(), conf.abandon_after())"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **knobs}
    env.pop("DATABASE_URL", None)
    out = printed(code, env)
    assert out.split() == ["3", "2.5", "4", "2.0", "9", "60.0"]


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
