"""How many live sockets one user may hold open in this process. Each socket costs a read
per replay and a share of every push; a page needs one, so a cap well above what a person
opens keeps one user (or one stolen session) from slowing the dashboard for everyone else.
Counted per process: a deployment with N web processes lets a user hold N times as many."""

from __future__ import annotations

import weakref
from typing import Any


class SocketQuota:
    def __init__(self) -> None:
        # Weak: a socket whose application was cancelled without a disconnect (a test, a
        # server shutting down) gives its place back when it is collected.
        self._held: dict[Any, weakref.WeakSet[Any]] = {}

    def take(self, user_id: Any, socket: Any, limit: int) -> bool:
        """Count `socket` against `user_id`'s places; False if they are all taken."""
        held = self._held.setdefault(user_id, weakref.WeakSet())
        if socket in held:
            return True
        if len(held) >= limit:
            return False
        held.add(socket)
        return True

    def give_back(self, user_id: Any, socket: Any) -> None:
        held = self._held.get(user_id)
        if held is None:
            return
        held.discard(socket)
        if not held:
            del self._held[user_id]


quota = SocketQuota()
