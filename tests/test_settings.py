"""Settings come from the environment; the development SECRET_KEY is flagged for deploys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def deploy_check(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    environment.update({"DJANGO_SETTINGS_MODULE": "dashboard.settings", **env})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    return result.stdout + result.stderr


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
