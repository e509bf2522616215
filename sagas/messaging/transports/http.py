"""The HTTP transport: the relay POSTs each command to its participant, signed; the
participant answers at once (200 with its signed reply) or accepts it (202) and later
POSTs the reply to the orchestrator's `/api/replies`."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from django.db import connections, transaction

from sagas import conf
from sagas.messaging import directory, signing

if TYPE_CHECKING:
    from sagas.models import OutboxMessage
    from sagas.participant import Participant

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
TIMEOUT = 10.0


class DeliveryError(Exception):
    """The destination could not take the message now; the relay tries again later.

    `maybe_delivered`: the request left (the participant may have handled it, e.g. it timed
    out reading the answer), so the message must not be offered again as undelivered."""

    def __init__(self, message: str, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


_sessions = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread: the relay reuses connections to participants."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
    return session


def post(
    url: str, envelope: dict[str, Any], secret: str, participant: str, timeout: float = TIMEOUT
) -> tuple[int, bytes, dict[str, str]]:
    """POST a signed JSON envelope; returns (status, body, headers)."""
    data = json.dumps(envelope, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", **signing.sign(secret, data, participant)}
    traceparent = envelope.get("headers", {}).get("traceparent")
    # Only a well-formed one: a header value that is not a line of text would make the
    # request itself fail, and the command could then never be delivered.
    if isinstance(traceparent, str) and traceparent.isprintable() and len(traceparent) < 256:
        headers["traceparent"] = traceparent
    try:
        response = _session().post(url, data=data, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise DeliveryError(f"{url}: {exc}", maybe_delivered=not _never_sent(exc)) from exc
    return response.status_code, response.content[:MAX_BODY], dict(response.headers)


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request provably never reached the server (no connection was made);
    a read timeout or a dropped connection leaves it unknown."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


class HttpTransport:
    """Publishes commands to participants (the relay's side) and serves them (a
    participant's side)."""

    def publish(self, message: OutboxMessage) -> dict[str, Any] | None:
        """Deliver a command from the outbox; return the reply envelope if the participant
        answered at once, None if the reply comes later. Raise DeliveryError if it failed."""
        participant = message.destination
        url = directory.url(participant)
        if not url:
            raise DeliveryError(f"no URL for participant {participant!r}")
        secret = directory.secret(participant)
        status, body, headers = post(
            url.rstrip("/") + "/commands",
            {"headers": message.headers, "body": message.body},
            secret,
            participant,
            timeout=conf.relay_timeout(),
        )
        if status == 202:
            return None
        if status != 200:
            raise DeliveryError(f"{participant} answered {status}: {body[:200]!r}")
        try:
            signing.verify(
                secret, body, headers.get(signing.TIMESTAMP), headers.get(signing.SIGNATURE)
            )
            return json.loads(body)
        except (signing.BadSignature, signing.Replayed, ValueError, RecursionError) as exc:
            raise DeliveryError(f"{participant}'s reply was refused: {exc}") from exc

    def serve(self, participant: Participant, stop: threading.Event, **options: Any) -> None:
        """Answer `participant`'s commands on POST /commands until `stop` is set."""
        host, port = options["host"], int(options["port"])
        server = make_server(participant, host, port, options.get("reply_url"), self)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        log.info(
            "%s listening on http://%s:%s/commands",
            participant.name,
            host,
            server.server_address[1],
        )
        stop.wait()
        server.shutdown()
        server.server_close()

    def unavailable(self, participant: Participant) -> str:
        """Why `participant` takes no command now, answered with a 503 that the relay
        retries later; "" (it always does). A subclass may say otherwise."""
        return ""

    def before_handling(self, participant: Participant, envelope: Any) -> None:
        """Called before each command (`envelope`, as received) is handled, outside any
        transaction: nothing to do. A subclass may act here."""


def make_server(
    participant: Participant,
    host: str,
    port: int,
    reply_url: str | None = None,
    transport: HttpTransport | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server for `participant`'s commands; `transport`'s hooks run around each."""
    hooks = transport or HttpTransport()
    secret = directory.secret(participant.name)
    if not secret:
        raise RuntimeError(
            f"no secret for participant {participant.name!r}: set "
            "SAGASCOPE_PARTICIPANT_SECRETS (name=secret,...) in its environment"
        )

    class CommandHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the relay reuses its connection

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s: " + fmt, participant.name, *args)

        def do_GET(self) -> None:
            self._send(200 if self.path == "/healthz" else 404, b'{"status": "ok"}')

        def do_POST(self) -> None:
            if self.path != "/commands":
                self._send(404, b'{"detail": "POST /commands"}')
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                # Reading a negative length would block until the client hangs up.
                self.close_connection = True
                self._send(400, b'{"detail": "Content-Length must be a number of bytes"}')
                return
            if length > MAX_BODY:
                self.close_connection = True  # its body is left unread on the socket
                self._send(413, b'{"detail": "command too large"}')
                return
            data = self.rfile.read(length)
            try:
                signing.verify(
                    secret,
                    data,
                    self.headers.get(signing.TIMESTAMP),
                    self.headers.get(signing.SIGNATURE),
                )
                envelope = json.loads(data)
            except signing.BadSignature as exc:
                self._send(401, json.dumps({"detail": str(exc)}).encode())
                return
            except signing.Replayed as exc:
                self._send(409, json.dumps({"detail": str(exc)}).encode())
                return
            except (ValueError, RecursionError):  # RecursionError: nested past Python's limit
                self._send(400, b'{"detail": "the body is not JSON"}')
                return
            refusal = hooks.unavailable(participant)
            if refusal:
                self._send(503, json.dumps({"detail": refusal}).encode())
                return
            hooks.before_handling(participant, envelope)
            reply = _handle(participant, envelope)
            if reply_url:
                # Acknowledged only now that the handler's writes and its reply are committed
                # (the inbox keeps the reply): a crash after the 202 loses nothing, since a
                # retry of the command gets the stored reply, and the next command for this
                # saga (a refund, say) cannot be handled before this one has committed.
                self._send(202, b'{"detail": "accepted; the reply follows"}')
                threading.Thread(
                    target=_post_reply,
                    args=(participant, reply, reply_url, secret),
                    daemon=True,
                ).start()
                return
            body = json.dumps(reply, separators=(",", ":")).encode()
            self._send(200, body, signing.sign(secret, body, participant.name))

        def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer((host, port), CommandHandler)


def _handle(participant: Participant, envelope: Any) -> dict[str, Any]:
    try:
        with transaction.atomic():
            return participant.handle(envelope)
    finally:
        connections.close_all()  # each request runs on a thread of its own


def _post_reply(participant: Participant, reply: Any, reply_url: str, secret: str) -> None:
    """POST a stored reply to the orchestrator, retrying a few times; if it never arrives,
    the command's retry (same idempotency key) gets it from the inbox."""
    for attempt in range(5):
        try:
            status, body, _ = post(reply_url, reply, secret, participant.name)
            if status in (200, 202, 409):  # 409: already recorded
                return
            log.warning("%s: reply refused (%s): %s", participant.name, status, body[:200])
        except DeliveryError as exc:
            log.warning("%s: reply not delivered: %s", participant.name, exc)
        threading.Event().wait(0.5 * 2**attempt)
