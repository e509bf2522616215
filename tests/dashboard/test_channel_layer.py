"""The Redis channel layer as the settings configure it: an idle subscriber (a live page
with nothing new to show) must not be dropped by a client-side read timeout."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import uuid

import pytest
from channels_redis.core import RedisChannelLayer

from config import settings as project_settings


def settings_with_redis(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    spec = importlib.util.spec_from_file_location("settings_with_redis", project_settings.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_idle_subscriber_outlives_the_blocking_pop(monkeypatch):
    config = settings_with_redis(monkeypatch).CHANNEL_LAYERS["default"]["CONFIG"]
    layer = RedisChannelLayer(**{**config, "prefix": f"test-{uuid.uuid4().hex[:8]}"})

    async def idle() -> None:
        channel = await layer.new_channel()
        # Longer than two of channels-redis's 5 s blocking pops: with redis-py 8's default
        # 5 s read timeout the second one raised "Timeout reading from ..." here.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(channel), timeout=11)
        await layer.flush()

    # A thread of its own: an event loop other tests left running must not be in the way.
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(idle())
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    if failures:
        raise failures[0]
