"""/session/: what a live page asks after its socket was refused at the handshake, to tell
a session that ended (401: stop and say so) from a server that is away (no answer: retry)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_staff_session_is_alive(staff_client):
    response = staff_client.get(reverse("session"))
    assert response.status_code == 200 and response.json() == {"staff": True}
    assert "no-cache" in response["Cache-Control"]  # a stale "alive" would retry for ever


def test_no_session_or_a_non_staff_one_is_a_401_not_a_redirect(client, visitor):
    assert client.get(reverse("session")).status_code == 401
    client.force_login(visitor)
    response = client.get(reverse("session"))
    assert response.status_code == 401 and response.json() == {"staff": False}


def test_a_password_change_ends_the_session(staff_client, staff):
    staff.set_password("a new one")
    staff.save()
    assert staff_client.get(reverse("session")).status_code == 401


def test_only_get(staff_client):
    assert staff_client.post(reverse("session")).status_code == 405
