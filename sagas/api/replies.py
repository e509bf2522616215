"""POST /api/replies: where HTTP participants send replies they did not give at once.

Authenticated by the participant's HMAC signature, not by a token: a forged reply gets
401, a replayed one (outside the time window, or a message id seen before) 409, and
neither changes anything. An accepted reply is queued; a worker applies it.
"""

from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import Router, Status

from sagas.messaging import directory, outbox, signing
from sagas.messaging.envelope import MATCH_HEADERS, MalformedMessage, require

from .schemas import MessageOut

router = Router(tags=["participants"])


@router.post(
    "/replies",
    auth=None,
    response={202: MessageOut, 400: MessageOut, 401: MessageOut, 409: MessageOut, 413: MessageOut},
    summary="A participant's signed reply to a command",
    openapi_extra={
        "parameters": [
            {"in": "header", "name": name, "required": True, "schema": {"type": "string"}}
            for name in (signing.PARTICIPANT, signing.TIMESTAMP, signing.SIGNATURE)
        ]
    },
)
def receive_reply(request: HttpRequest) -> Status:
    participant = request.headers.get(signing.PARTICIPANT, "")
    secret = directory.secret(participant) if participant else ""
    try:
        signing.verify(
            secret,
            request.body,
            request.headers.get(signing.TIMESTAMP),
            request.headers.get(signing.SIGNATURE),
        )
    except signing.BadSignature as exc:
        return Status(401, {"detail": f"reply refused: {exc}"})
    except signing.Replayed as exc:
        return Status(409, {"detail": f"reply refused as a replay: {exc}"})
    try:
        envelope = json.loads(request.body)
        headers = require(envelope.get("headers"), ("message_id", *MATCH_HEADERS, "command"))
        if not isinstance(envelope.get("body"), dict):
            raise MalformedMessage("body must be a JSON object")
    except (ValueError, AttributeError, MalformedMessage) as exc:
        return Status(400, {"detail": f"malformed reply: {exc}"})
    if str(headers["command"]).partition(".")[0] != participant:
        return Status(401, {"detail": f"{participant} may only answer its own commands"})
    if not outbox.enqueue_reply(envelope):
        return Status(409, {"detail": f"reply {headers['message_id']} was already received"})
    return Status(202, {"detail": "reply accepted"})
