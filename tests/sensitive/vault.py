"""Helpers of the sensitive-field tests: sagas of the `vault` type (tests/testapp/sagas.py),
whose card number, customer e-mail and charge token are sensitive."""

from __future__ import annotations

import uuid
from io import StringIO

from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from sagas.models import StepAttempt
from tests.factories import settle, start, worker
from tests.states import put, ran

CARD = "4111111111111111"
EMAIL = "ada@example.org"
TOKEN = "tok-1111-secret"
SECRETS = (CARD, EMAIL, TOKEN)
INPUT = {"card_number": CARD, "customer": {"email": EMAIL, "name": "Ada"}, "amount": 10}


CHARGED = {"token": TOKEN, "approved": True}


def vault_saga():
    """A completed vault saga: its input and the charge's result hold every secret. Played
    in memory (tests/states.py), the charge's result then written as the step returns it;
    tests that need a real worker use `worked`."""
    saga = ran(start("vault", INPUT, correlation_id="vault-1"))
    StepAttempt.objects.filter(saga=saga, step_name="charge", phase="forward").update(
        result=CHARGED
    )
    saga = put(saga, results={"charge": CHARGED, "confirm": {"noted": "confirm"}})
    assert saga.status == "completed"
    return saga


def worked():
    """A vault saga run to its end by a real in-process worker (needs a transactional
    test: the worker commits)."""
    saga = start("vault", INPUT, correlation_id="vault-worked")
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == "completed" and saga.results["charge"] == CHARGED
    return saga


def staff(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, password=f"pw-{name}", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def token_client(*scopes: str) -> Client:
    out = StringIO()
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    call_command("create_api_token", f"t-{uuid.uuid4().hex[:8]}", *args, stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]
