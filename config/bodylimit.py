"""Request bodies larger than the server accepts are refused while they arrive.

daphne (Twisted) reads a request's whole body before it calls the ASGI application, so
Django's DATA_UPLOAD_MAX_MEMORY_SIZE, checked after that, protected nothing: a 300 MB POST
grew the web process to 407 MB. Twisted hands a request its body as it arrives, through
`gotLength` (the Content-Length; None when chunked) and `handleContentChunk` (each piece).
A subclass of daphne's request class overrides both: a body declared too large is refused
before any of it is read (and the client is not told to send it), a chunked one as soon as
it passes the limit; either way a 413 with a JSON {"detail"} and the connection closes.

`install()` makes it the request class of every daphne server in this process, however
started (the daphne command, runserver, `manage.py demo`): all of them load
config/asgi.py, which calls it. Websockets are unaffected: their request has no body.
"""

from __future__ import annotations

import json

from daphne import http_protocol

STATUS = b"413 Content Too Large"


class LimitedRequest(http_protocol.WebRequest):
    """daphne's request, with a body of at most `limit` bytes (None: no limit)."""

    limit: int | None = None
    received = 0
    refused = False

    def gotLength(self, length: int | None) -> None:
        if self.limit is not None and length is not None and length > self.limit:
            # Called before Twisted answers "Expect: 100-continue": a client waiting for
            # that go-ahead then never sends the body at all.
            self.requestHeaders.removeHeader(b"Expect")
            self.refuse()
            length = 0  # nothing of it is kept
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return  # what was already on its way when the connection closed
        self.received += len(data)
        if self.limit is not None and self.received > self.limit:
            self.refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # The end of a refused chunked body can arrive with its last pieces: the request
        # must not then reach the application with what was kept of it.
        if not self.refused:
            super().requestReceived(command, path, version)

    def refuse(self) -> None:
        self.refused = True
        body = json.dumps(
            {
                "detail": f"request body is larger than the server accepts ({self.limit} "
                "bytes); send less, or split the request"
            }
        ).encode()
        head = (
            b"HTTP/1.1 " + STATUS + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        # As Twisted answers a malformed request: written straight to the connection,
        # which then closes, so the rest of the body is never read.
        self.channel.transport.write(head + body)
        self.channel.loseConnection()


def install(limit: int | None) -> None:
    """Refuse request bodies over `limit` bytes in every daphne server of this process."""
    LimitedRequest.limit = limit
    # daphne's HTTPFactory.buildProtocol sets `requestFactory = WebRequest`, a name it
    # looks up in its module for each new connection.
    http_protocol.WebRequest = LimitedRequest
