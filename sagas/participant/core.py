"""The participant helper: a decorator per command, and `handle`, which does for each
delivered command what every idempotent consumer must do:

1. continue the sender's trace: a CONSUMER span, child of the PRODUCER span in the headers
   (malformed headers start a fresh trace, never an error);
2. claim the idempotency key in the inbox (`ProcessedMessage`) first, so a second copy
   arriving at the same instant waits on the unique index and then finds the first reply;
3. run the handler in a savepoint, and store its reply in the same transaction as the
   handler's own writes: a duplicate gets the first reply and has no second effect.

A business refusal (BusinessError) is a reply too, stored like a result. Any other
exception rolls everything back and answers a transient error; the orchestrator retries
with the same key.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from opentelemetry import baggage
from opentelemetry.trace import SpanKind, Status, StatusCode

from sagas.exceptions import BusinessError
from sagas.messaging.envelope import (
    COMMAND_HEADERS,
    MalformedMessage,
    failed,
    ok,
    refused,
    reply_envelope,
    require,
)
from sagas.messaging.transports import DatabaseTransport, HttpTransport
from sagas.models import ProcessedMessage
from sagas.telemetry.propagation import current_ids, extract, inject
from sagas.telemetry.setup import provider_for
from sagas.telemetry.spans import MESSAGING_SYSTEM

from .registry import participants

log = logging.getLogger(__name__)

DUPLICATE = "_duplicate"
REQUIRED = ("message_id", "saga_id", "idempotency_key", "command", "step", "phase", "attempt")


@dataclass(frozen=True)
class Command:
    """What a handler is given."""

    name: str
    body: Mapping[str, Any]
    headers: Mapping[str, Any]
    idempotency_key: str
    saga_id: str
    correlation_id: str
    attempt: int

    @property
    def input(self) -> Mapping[str, Any]:
        """The saga's input, when the step sends the default body."""
        return self.body.get("input", self.body)


Handler = Callable[[Command], Any]


class Participant:
    """A service that receives commands: `@inventory.command("reserve")`."""

    def __init__(self, name: str, description: str = "", register: bool = True) -> None:
        self.name = name
        self.description = description
        self.handlers: dict[str, Handler] = {}
        self.handled = 0  # commands handled by this process, for its heartbeat
        if register:
            participants.add(self)

    def command(self, name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[name] = fn
            return fn

        return register

    def database_transport(self) -> DatabaseTransport:
        """What serves it from the outbox table. A subclass may serve itself its own way."""
        return DatabaseTransport()

    def http_transport(self) -> HttpTransport:
        """What serves it over HTTP. A subclass may serve itself its own way."""
        return HttpTransport()

    def before_command(self, command: str, headers: Mapping[str, Any], body: Any) -> None:
        """Called before each well-formed command (its name, headers and body as received)
        runs, before the inbox: nothing to do. An exception raised here is answered as a
        transient error, which the sender retries."""

    def report_failure(self, exc: Exception) -> None:
        """Say that a command failed transiently (the sender retries it): a warning. A
        subclass may say it otherwise."""
        log.warning("%s: command failed: %s", self.name, exc)

    def handle(self, envelope: Any) -> dict[str, Any]:
        """Process one delivered command; returns the reply envelope. Never raises."""
        self.handled += 1
        raw_headers = envelope.get("headers") if isinstance(envelope, dict) else None
        safe = raw_headers if isinstance(raw_headers, dict) else {}
        tracer = provider_for(self.name).get_tracer("sagascope.participant")
        with tracer.start_as_current_span(
            f"process {self.name}",
            context=extract(safe),
            kind=SpanKind.CONSUMER,
            attributes=_consumer_attributes(self.name, safe),
        ) as span:
            try:
                headers = require(raw_headers, REQUIRED)
                _check_key(headers["idempotency_key"])
                body = envelope.get("body")
                self.before_command(str(headers["command"]).partition(".")[2], headers, body)
                if not isinstance(body, dict):
                    raise MalformedMessage("body must be a JSON object")
                reply = self._once(headers, body)
            except MalformedMessage as exc:
                log.warning("%s: malformed command: %s", self.name, exc)
                reply = refused("sagas.participant.MalformedCommand", str(exc))
            except Exception as exc:  # transient: nothing stored, the sender retries
                self.report_failure(exc)
                span.record_exception(exc)
                reply = failed(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))
                reply["traceback"] = traceback.format_exc(limit=10)[-4000:]
            if reply.get("status") != "ok":
                span.set_status(Status(StatusCode.ERROR, reply["error"]["message"][:500]))
            duplicate = bool(reply.pop(DUPLICATE, False))
            if duplicate:
                span.set_attribute("saga.duplicate_delivery", True)
            trace_id, span_id = current_ids()
            extra: dict[str, Any] = {"duplicate": duplicate}
            if trace_id:
                saga_id, correlation = safe.get("saga_id", ""), safe.get("correlation_id", "")
                extra.update(inject(trace_id, span_id, str(saga_id), str(correlation)))
        # The duplicate flag rides in the headers, so every copy's body is identical.
        return reply_envelope(safe, reply, extra)

    def _once(self, headers: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        key = str(headers["idempotency_key"])
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = ProcessedMessage.objects.create(
                        consumer=self.name, idempotency_key=key
                    )
            except IntegrityError:
                first = ProcessedMessage.objects.select_for_update().get(
                    consumer=self.name, idempotency_key=key
                )
                first.duplicates += 1
                first.save(update_fields=["duplicates"])
                return {**(first.result or {}), DUPLICATE: True}
            reply = self._run(headers, body)
            record.result = reply
            record.save(update_fields=["result"])
            return reply

    def _run(self, headers: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        name = str(headers["command"]).partition(".")[2]
        handler = self.handlers.get(name)
        if handler is None:
            known = ", ".join(sorted(self.handlers)) or "none"
            return refused(
                "sagas.participant.UnknownCommand",
                f"{self.name} has no command {name!r} (it has: {known})",
            )
        command = Command(
            name=name,
            body=body,
            headers=headers,
            idempotency_key=str(headers["idempotency_key"]),
            saga_id=str(headers["saga_id"]),
            correlation_id=str(headers.get("correlation_id", "")),
            attempt=int(headers["attempt"]),
        )
        try:
            with transaction.atomic():
                return ok(handler(command))
        except BusinessError as exc:
            return refused(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))


def _check_key(key: Any) -> None:
    # Longer than the inbox stores: PostgreSQL would refuse the insert on every retry, a
    # transient-looking failure that can never succeed.
    limit = ProcessedMessage._meta.get_field("idempotency_key").max_length
    if not isinstance(key, str) or len(key) > limit:
        raise MalformedMessage(
            f"header 'idempotency_key' must be a string of at most {limit} characters"
        )


def _consumer_attributes(name: str, headers: Mapping[str, Any]) -> dict[str, Any]:
    correlation = headers.get("correlation_id") or baggage.get_baggage(
        "saga.correlation_id", extract(headers)
    )
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": name,
        "messaging.message.id": headers.get("message_id"),
        "messaging.message.conversation_id": correlation,
        "saga.id": headers.get("saga_id"),
        "saga.type": headers.get("saga_type"),
        "saga.step": headers.get("step"),
        "saga.phase": headers.get("phase"),
        "saga.attempt": headers.get("attempt"),
        "saga.command": headers.get("command"),
    }
    return {
        k: str(v)[:200] if not isinstance(v, int) else v
        for k, v in attributes.items()
        if v not in (None, "")
    }


__all__ = ["COMMAND_HEADERS", "Command", "Participant"]
