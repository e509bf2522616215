"""The site has an icon: pages link it, and /favicon.ico (which browsers fetch by themselves
on pages that link none, like the admin's) answers with it, never a 404 that warns in the
log. Through the whole ASGI application, which serves the static files in one process."""

from __future__ import annotations

import re

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from tests.sockets import run

pytestmark = pytest.mark.django_db
HOST = [(b"host", b"127.0.0.1")]


def fetch(path: str) -> dict:
    """GET `path` from the ASGI application: its status, headers and whole body."""
    from config.asgi import application

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": HOST}
    got: dict = {"body": b""}

    async def scenario() -> None:
        app = ApplicationCommunicator(application, scope)
        await app.send_input({"type": "http.request", "body": b""})
        start = await app.receive_output(5)
        got.update(status=start["status"], headers=dict(start["headers"]))
        more = True
        while more:  # the last chunk may carry no body at all (the ASGI spec allows it)
            chunk = await app.receive_output(5)
            got["body"] += chunk.get("body", b"")
            more = chunk.get("more_body", False)
        await app.wait(5)  # the handler closes the file and the request after the response

    run(scenario)
    return got


def test_favicon_ico_leads_to_the_icon_which_answers_200():
    moved = Client().get("/favicon.ico")
    assert moved.status_code == 301 and moved["Location"] == "/static/favicon.svg"
    icon = fetch(moved["Location"])
    assert icon["status"] == 200
    assert {k.lower(): v for k, v in icon["headers"].items()}[b"content-type"] == b"image/svg+xml"
    assert icon["body"].startswith(b"<svg") and b"</svg>" in icon["body"]
    assert fetch("/favicon.ico")["status"] == 301  # the redirect, through ASGI too


def test_every_page_links_the_icon(client):
    html = client.get("/login/").content.decode()
    assert re.search(r'<link rel="icon" href="/static/favicon.svg" type="image/svg\+xml">', html)
