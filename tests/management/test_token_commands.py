"""Token rotation from the command line: create with an expiry, list, revoke."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from sagas.models import ApiToken

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_with_an_expiry_in_days():
    before = timezone.now()
    raw = run("create_api_token", "checkout", "--expires-in", "90").strip()
    assert raw.startswith("sgs_")  # stdout is the token alone, for scripts that capture it
    token = ApiToken.objects.get(name="checkout")
    assert before + timedelta(days=90) <= token.expires_at <= timezone.now() + timedelta(days=90)
    assert token.is_live
    run("create_api_token", "forever")
    assert ApiToken.objects.get(name="forever").expires_at is None


@pytest.mark.parametrize("days", ["0", "-3", "soon", "nan", "inf", "1e9"])
def test_create_refuses_an_expiry_that_is_not_a_positive_number_of_days(days):
    with pytest.raises(CommandError, match="--expires-in must be a positive number of days"):
        run("create_api_token", "checkout", "--expires-in", days)
    assert not ApiToken.objects.exists()


def test_revoke_by_name_once():
    run("create_api_token", "checkout")
    out = run("revoke_api_token", "checkout")
    assert "revoked" in out and "checkout" in out
    token = ApiToken.objects.get(name="checkout")
    assert token.revoked_at is not None and not token.is_live
    with pytest.raises(CommandError, match="already revoked"):
        run("revoke_api_token", "checkout")
    with pytest.raises(CommandError, match="no API token is named 'nobody'"):
        run("revoke_api_token", "nobody")


def test_list_shows_each_token_and_its_state_but_never_the_hash():
    assert "no API tokens" in run("list_api_tokens")
    run("create_api_token", "checkout", "--scope", "start", "--expires-in", "30")
    run("create_api_token", "reporting", "--scope", "read")
    run("create_api_token", "old", "--scope", "operate")
    run("revoke_api_token", "old")
    run("create_api_token", "lapsed", "--expires-in", "1")
    ApiToken.objects.filter(name="lapsed").update(expires_at=timezone.now() - timedelta(hours=1))
    ApiToken.objects.filter(name="reporting").update(last_used_at=timezone.now())
    out = run("list_api_tokens")
    header, *rows = out.splitlines()
    for column in ("name", "scopes", "created", "last used", "expires", "revoked", "state"):
        assert column in header
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {"checkout", "reporting", "old", "lapsed"}
    assert "live" in by_name["checkout"] and "start" in by_name["checkout"]
    assert "revoked" in by_name["old"] and "expired" in by_name["lapsed"]
    assert "never" in by_name["reporting"]  # no expiry
    for token in ApiToken.objects.all():
        assert token.token_hash not in out
