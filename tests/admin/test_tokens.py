"""API tokens in the admin: readable, never added or edited there, revoked by an action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sagas.models import ApiToken

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:sagas_apitoken_changelist")


@pytest.fixture
def root() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def staff(*codenames: str) -> Client:
    user = User.objects.create_user(f"staff-{'-'.join(codenames)}", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_the_revoke_action_revokes_the_selected_tokens(root):
    checkout, _ = ApiToken.issue("checkout", ["start"])
    reporting, _ = ApiToken.issue("reporting", ["read"])
    r = root.post(
        CHANGELIST,
        {"action": "revoke_tokens", "index": "0", ACTION_CHECKBOX_NAME: [str(checkout.pk)]},
        follow=True,
    )
    assert r.status_code == 200 and "revoked 1 token(s): checkout" in r.content.decode().lower()
    checkout.refresh_from_db()
    reporting.refresh_from_db()
    assert checkout.revoked_at is not None and reporting.revoked_at is None
    # again: nothing changes, and the page says so
    revoked_at = checkout.revoked_at
    r = root.post(
        CHANGELIST,
        {"action": "revoke_tokens", "index": "0", ACTION_CHECKBOX_NAME: [str(checkout.pk)]},
        follow=True,
    )
    assert "already revoked: checkout" in r.content.decode().lower()
    checkout.refresh_from_db()
    assert checkout.revoked_at == revoked_at


def test_revoking_needs_the_change_permission():
    token, _ = ApiToken.issue("checkout", ["start"])
    viewer = staff("view_apitoken")
    assert "revoke_tokens" not in viewer.get(CHANGELIST).content.decode()
    viewer.post(
        CHANGELIST, {"action": "revoke_tokens", "index": "0", ACTION_CHECKBOX_NAME: [str(token.pk)]}
    )
    token.refresh_from_db()
    assert token.revoked_at is None
    changer = staff("view_apitoken", "change_apitoken")
    assert "revoke_tokens" in changer.get(CHANGELIST).content.decode()
    changer.post(
        CHANGELIST, {"action": "revoke_tokens", "index": "0", ACTION_CHECKBOX_NAME: [str(token.pk)]}
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_tokens_are_not_added_or_edited_here_and_the_hash_is_not_shown(root):
    token, raw = ApiToken.issue("checkout", ["start"])
    assert root.get(reverse("admin:sagas_apitoken_add")).status_code == 403
    change = reverse("admin:sagas_apitoken_change", args=[token.pk])
    page = root.get(change).content.decode()
    assert "checkout" in page and token.token_hash not in page and raw not in page
    root.post(change, {"name": "renamed", "token_hash": "0" * 64, "scopes": '["operate"]'})
    token.refresh_from_db()
    assert (token.name, token.scopes) == ("checkout", ["start"])
    assert token.token_hash == ApiToken.hash(raw)


def test_the_list_shows_and_filters_the_state(root):
    ApiToken.issue("live-one", ["start"])
    revoked, _ = ApiToken.issue("revoked-one", ["start"])
    revoked.revoke()
    expired, _ = ApiToken.issue("expired-one", ["start"])
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    page = root.get(CHANGELIST).content.decode()
    assert all(name in page for name in ("live-one", "revoked-one", "expired-one"))
    for state, name in (
        ("live", "live-one"),
        ("revoked", "revoked-one"),
        ("expired", "expired-one"),
    ):
        page = root.get(CHANGELIST, {"state": state}).content.decode()
        others = {"live-one", "revoked-one", "expired-one"} - {name}
        assert name in page and not any(other in page for other in others), state
