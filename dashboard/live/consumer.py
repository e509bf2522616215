"""The base of every live socket: staff only, join groups, accept, send a snapshot, then
changes; client frames are parsed strictly and answered, never trusted, never fatal. The
socket lives no longer than its staff session (see access.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder

from sagas.exceptions import SagaError
from sagas.services.actors import is_staff

from .. import conf
from . import frames
from .access import session_tag, still_staff, user_group
from .budget import FrameBudget
from .publisher import publisher
from .quota import quota

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's): the browser stops retrying on these.
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429  # this user holds SAGASCOPE_LIVE_SOCKETS_PER_USER sockets already


class Refused(SagaError):
    """The socket's URL asks for something this server will not serve."""

    close_code = CLOSE_BAD_REQUEST
    code = "bad_request"


class NotFound(Refused):
    """Nothing to watch at this address."""

    close_code = CLOSE_NOT_FOUND
    code = "not_found"


class LiveConsumer(AsyncWebsocketConsumer):
    """Subclasses set `prepare` (read the URL), `live_groups` and `snapshot`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []
        self.closed = False
        self.budget = FrameBudget(conf.frame_burst(), conf.frames_per_second())
        self.dropping = False
        self.user_id: Any = None
        self.session_key: str | None = None

    async def connect(self) -> None:
        # In-memory layer: pushes from other threads of this process land on this loop.
        publisher.adopt_loop(asyncio.get_running_loop())
        user = self.scope.get("user")
        if not is_staff(user):
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake fails
            return
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        limit = conf.live_sockets_per_user()
        if not quota.take(self.user_id, self, limit):
            message = (
                f"you have {limit} live pages open, the most this server allows one user: "
                "close one, then reload this page"
            )
            await self.refuse("too_many_sockets", message, CLOSE_TOO_MANY)
            return
        try:
            await self.prepare(self.params())
        except Refused as exc:
            await self.refuse(exc.code, str(exc), exc.close_code)
            return
        except SagaError as exc:  # InvalidQuery and friends: the URL's filters are wrong
            await self.refuse("bad_request", str(exc), CLOSE_BAD_REQUEST)
            return
        for group in [user_group(self.user_id), *self.live_groups()]:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)
        await self.accept()
        await self.snapshot()

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        await self.accept()
        await self.end(code, message, close_code)

    async def end(self, code: str, message: str, close_code: int) -> None:
        """Say why in an error frame, then close; nothing more is sent."""
        await self.send_frame({"type": "error", "code": code, "error": message})
        await self.close(code=close_code)
        await self.leave()  # now: the client may be slow to answer the close, or never do

    async def still_allowed(self) -> bool:
        """Re-check the session; if it is gone or no longer staff, close with 4403."""
        if await still_staff(self.session_key, self.user_id):
            return True
        await self.forbid()
        return False

    async def forbid(self) -> None:
        message = "your session has ended or no longer has staff rights: log in again"
        await self.end("forbidden", message, CLOSE_FORBIDDEN)

    async def live_logged_out(self, message: dict[str, Any]) -> None:
        # Closed without a re-check: the session is flushed just after the signal.
        if message.get("session") == session_tag(self.session_key):
            await self.forbid()

    async def live_user_changed(self, message: dict[str, Any]) -> None:
        await self.still_allowed()

    async def disconnect(self, code: int) -> None:
        await self.leave()

    async def leave(self) -> None:
        """Stop everything that feeds this socket; safe to call twice."""
        self.closed = True
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []
        quota.give_back(self.user_id, self)
        self.stop()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed:  # closed by the server; the client has not noticed yet
            return
        if not self.budget.spend():
            # Said once per flood: answering every dropped frame would be work without end.
            if not self.dropping:
                self.dropping = True
                await self.send_frame(frames.RateLimited().frame())
            return
        self.dropping = False
        try:
            frame = frames.parse(text_data, bytes_data, conf.max_frame_bytes())
            kind = frame["type"]
            if kind in ("ping", "replay") and not await self.still_allowed():
                return
            if kind == "ping":
                await self.send_frame({"type": "pong"})
            elif kind == "replay":
                await self.replay(frames.event_id(frame))
            else:
                raise frames.UnknownFrame()
        except frames.FrameError as exc:
            await self.send_frame(exc.frame())
        except Exception:
            log.exception("live socket could not answer a frame")
            await self.send_frame({"type": "error", "code": "server", "error": "server error"})

    async def send_frame(self, payload: dict[str, Any]) -> None:
        if not self.closed:
            await self.send(text_data=json.dumps(payload, cls=DjangoJSONEncoder))

    def params(self) -> dict[str, str]:
        raw = self.scope.get("query_string", b"").decode("latin-1")
        return dict(parse_qsl(raw, keep_blank_values=True))

    # What subclasses fill in

    async def prepare(self, params: dict[str, str]) -> None:
        """Read the URL's parameters; raise Refused or InvalidQuery to refuse."""

    def live_groups(self) -> list[str]:
        return []

    async def snapshot(self) -> None:
        raise NotImplementedError

    async def replay(self, after: int) -> None:
        raise frames.UnknownFrame("this socket has nothing to replay")

    def stop(self) -> None:
        """Cancel timers when the socket closes."""
