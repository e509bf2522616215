"""Who may call the API: a bearer token that is live, or a staff session with its CSRF
token. A request that names a token is judged by that token alone."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from sagas.models import ApiToken, SagaInstance

pytestmark = pytest.mark.django_db

ORDER = {"sku": "SKU-AUTH", "qty": 1, "amount": 10, "country": "FR"}
START = json.dumps({"type": "order", "input": ORDER})


def start(client: Client, **headers: str):
    return client.post("/api/sagas", START, content_type="application/json", **headers)


def issue(name: str, *args: str) -> str:
    out = StringIO()
    call_command("create_api_token", name, "--scope", "start", "--scope", "read", *args, stdout=out)
    return out.getvalue().strip()


def test_a_bad_bearer_token_on_a_post_gets_401_not_a_csrf_403():
    r = start(Client(enforce_csrf_checks=True), HTTP_AUTHORIZATION="Bearer wrong")
    assert r.status_code == 401, r.content
    assert r["Content-Type"].startswith("application/json")
    assert "API token" in r.json()["detail"]
    # no credentials at all: 401 as well
    r = start(Client(enforce_csrf_checks=True))
    assert r.status_code == 401 and r.json()["detail"]
    assert not SagaInstance.objects.exists()


def test_a_header_that_is_not_a_bearer_token_is_refused_even_beside_a_session():
    # A session cookie rides along, but the request named its own credentials: those decide.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.create_superuser("root", password="pw"))
    r = start(browser, HTTP_AUTHORIZATION="Basic cm9vdDpwdw==")
    assert r.status_code == 401, r.content
    r = start(browser, HTTP_AUTHORIZATION="Bearer wrong")
    assert r.status_code == 401, r.content
    assert not SagaInstance.objects.exists()


def test_a_session_without_its_csrf_token_is_still_refused_with_403():
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.create_superuser("root", password="pw"))
    r = start(browser)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    browser.get("/login/")
    r = start(browser, HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert r.status_code == 201, r.content


def test_a_live_token_still_starts_sagas():
    api = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {issue('checkout')}")
    assert start(api).status_code == 201


def test_a_revoked_token_gets_401_through_the_api():
    raw = issue("checkout")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/sagas").status_code == 200
    call_command("revoke_api_token", "checkout", stdout=StringIO())
    r = api.get("/api/sagas")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert start(api).status_code == 401
    assert not SagaInstance.objects.exists()


def test_an_expired_token_gets_401_and_one_before_its_expiry_works():
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issue('checkout', '--expires-in', '30')}")
    assert start(api).status_code == 201
    ApiToken.objects.filter(name="checkout").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = start(api)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert api.get("/api/sagas").status_code == 401
    assert SagaInstance.objects.count() == 1
