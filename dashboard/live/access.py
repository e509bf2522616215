"""Who may hold a live socket: an active staff user with a live session. A socket may stay
open for days, so this is checked when it opens and again at every ping or replay it
sends; logging out, or any change to the user, makes that user's sockets check at once."""

from __future__ import annotations

import hashlib
from importlib import import_module
from typing import Any

from channels.auth import get_user
from django.conf import settings
from django.db import transaction

from sagas.services.actors import is_staff

from .publisher import publisher

LOGGED_OUT = "live.logged_out"  # {"session": session_tag(key)}: that session ended
USER_CHANGED = "live.user_changed"  # staff, active, password: anything may have changed


def user_group(user_id: Any) -> str:
    """The channel-layer group of every live socket of one user."""
    return f"sagascope.user.{user_id}"


def session_tag(session_key: str | None) -> str:
    """A session's name in channel-layer messages: its key is a bearer secret."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32] if session_key else ""


async def still_staff(session_key: str | None, user_id: Any) -> bool:
    """Whether the session still exists (not logged out, not expired, made with the current
    password) and still belongs to `user_id`, still an active staff user."""
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": store})  # the check the socket passed when it opened
    return is_staff(user) and user.pk == user_id


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Receiver of user_logged_out: the sockets of the session that ended close."""
    if user is None or user.pk is None:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    tell(user.pk, {"type": LOGGED_OUT, "session": session_tag(session_key)})


def on_user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Receiver of the user model's post_save and post_delete."""
    if kwargs.get("created") or kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # a new user has no sockets; every login saves last_login, nothing else
    tell(instance.pk, {"type": USER_CHANGED})


def tell(user_id: Any, message: dict[str, Any]) -> None:
    group = user_group(user_id)
    transaction.on_commit(lambda: publisher.publish([(group, message)]))
