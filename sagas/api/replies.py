"""POST /api/replies: where HTTP participants send replies they did not give at once.

Authenticated by the participant's HMAC signature, not by a token: a forged reply gets
401, a replayed one (outside the time window, or a message id seen before) 409, one that
fails the reply schema 400, and none of them changes anything. An accepted reply is
queued with its signer as the sender; a worker applies it only to an attempt whose command
went to that participant.
"""

from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import Router, Status

from sagas.messaging import directory, outbox, schema, signing
from sagas.messaging.envelope import MalformedMessage

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
        reply = schema.parse(envelope)
    except (ValueError, RecursionError, MalformedMessage) as exc:
        return Status(400, {"detail": f"malformed reply: {exc}"})
    command = envelope["headers"].get("command")
    if command is not None and str(command).partition(".")[0] != participant:
        return Status(401, {"detail": f"{participant} may only answer its own commands"})
    if not outbox.enqueue_reply(envelope, sender=participant):
        return Status(409, {"detail": f"reply {reply.message_id} was already received"})
    return Status(202, {"detail": "reply accepted"})
