"""Fixtures for the dashboard's tests: staff and non-staff users, a fresh in-memory
channel layer per test, and websocket connections through the whole ASGI application
(origin check, session auth, routing), as a browser makes them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.sockets import session_cookie


@pytest.fixture(autouse=True)
def memory_layer(settings):
    # A new layer per test: nothing queued by one test can reach the next one.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def fresh_overview():
    # The overview keeps a per-process baseline of terminal counts; each test has new rows.
    from dashboard.overview import terminal_counts

    terminal_counts.reset()


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "operator", password="pw-operator", is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_client(client: Client, staff) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def operator(staff):
    staff._test_session = session_cookie(staff)
    return staff


@pytest.fixture
def visitor(db):
    user = get_user_model().objects.create_user("visitor", password="pw-visitor")
    user._test_session = session_cookie(user)
    return user
