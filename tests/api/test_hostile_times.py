"""Times the API takes (a list cursor, a bulk selection's range) at the edges of what
Python and PostgreSQL can hold: each is a 4xx naming the field, never a 500."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from django.test import Client

from sagas.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def token() -> str:
    return ApiToken.issue("hostile-times", ["read", "operate"])[1]


def cursor(moment: str) -> str:
    raw = json.dumps([moment, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-14:00", "2025-01-01T00:00:00+23:59"],
)
def test_a_hand_made_cursor_at_the_edges_is_a_400(token, moment):
    response = Client().get(
        f"/api/sagas?cursor={cursor(moment)}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "cursor"


def preview(token: str, created_after: str):
    body = {"action": "retry", "selection": {"created_after": created_after}}
    return Client().post(
        "/api/bulk/preview",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_bulk_selection_at_the_edges_is_a_400(token):
    response = preview(token, "0001-01-01T00:00:00+14:00")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "created_after"


def test_an_offset_postgresql_refuses_is_taken_in_utc(token):
    assert preview(token, "2025-01-01T00:00:00+23:59").status_code == 200
