"""The JSON API never sends a step's traceback (it names server paths): an attempt's error is
its type and message, for tokens and sessions alike, superusers included."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

import tests.testapp.sagas
from sagas.models import StepAttempt
from tests.factories import start
from tests.states import outcome_of, ran

pytestmark = pytest.mark.django_db

SERVER_PATH = str(Path(tests.testapp.sagas.__file__).resolve())


def test_an_attempt_error_is_its_type_and_message_never_its_traceback():
    saga = start("ledger", {"sleep": "not a number"})  # step a crashes: a real traceback
    ran(saga, failing={"a": outcome_of(saga, "a")})
    assert all(
        SERVER_PATH in t
        for t in StepAttempt.objects.filter(saga=saga).values_list("error_traceback", flat=True)
    )
    out = StringIO()
    call_command("create_api_token", "reader", "--scope", "read", stdout=out)
    token_client = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    superuser = Client()
    superuser.force_login(User.objects.create_superuser("root", password="pw-root"))
    for client in (token_client, superuser):
        response = client.get(f"/api/sagas/{saga.id}")
        assert response.status_code == 200, response.content
        steps = response.json()["steps"]
        assert steps and all(
            s["error"] == {"type": "builtins.ValueError", "message": s["error"]["message"]}
            for s in steps
        )
        assert "could not convert string to float" in steps[0]["error"]["message"]
        text = response.content.decode()
        assert SERVER_PATH not in text and "traceback" not in text.lower()
