"""The alert history page (staff only, escaped) and the admin of rules and destinations:
validation errors shown, changes refused without sagas.manage_alerts, a test alert."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from sagas.models import Alert, AlertDelivery, AlertDestination, AlertRule
from tests.alerts.receiver import SECRET

pytestmark = pytest.mark.django_db(transaction=True)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_history_shows_fired_delivered_failed_and_resolved_escaped(viewer, rule):
    now = timezone.now()
    hook = AlertDestination.objects.create(
        name="hook", channel="webhook", url="http://127.0.0.1:9/", secret=SECRET
    )
    burst = rule("failure_burst")
    fired = Alert.objects.create(
        rule=burst,
        key="type:<b>order</b>",
        title="<script>alert(1)</script> burst",
        fired_at=now,
        last_seen_at=now,
    )
    AlertDelivery.objects.create(
        alert=fired,
        destination=hook,
        status="failed",
        attempts=12,
        next_try_at=now,
        created_at=now,
        last_error="answered HTTP 500: <img src=x>",
    )
    resolved = Alert.objects.create(
        rule=burst,
        key="type:ledger",
        title="ledger burst",
        state="resolved",
        fired_at=now,
        last_seen_at=now,
        resolved_at=now,
    )
    AlertDelivery.objects.create(
        alert=resolved,
        destination=hook,
        status="delivered",
        attempts=1,
        next_try_at=now,
        created_at=now,
        delivered_at=now,
    )
    response = logged_in(viewer).get("/alerts/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x>" not in page and "&lt;img src=x&gt;" in page
    assert "<strong>failed</strong>, 12 attempts" in page
    assert "<strong>delivered</strong>, 1 attempt" in page
    assert "resolved" in page
    assert 'href="/alerts/" aria-current="page"' in page


def test_the_history_is_refused_to_anonymous_and_non_staff_users(client, django_user_model):
    response = client.get("/alerts/")
    assert response.status_code == 302 and "/login" in response["Location"]
    client.force_login(django_user_model.objects.create_user("plain", "p@x.test", "pw"))
    assert client.get("/alerts/").status_code == 302


def test_the_admin_shows_a_rules_validation_errors(manager):
    response = logged_in(manager).post(
        "/admin/sagas/alertrule/add/",
        {
            "name": "burst",
            "kind": "failure_burst",
            "params": '{"count": -1, "minutes": 5}',
            "saga_type": "",
            "enabled": "on",
            "throttle_seconds": "600",
            "note": "x" * 3000,
        },
    )
    assert response.status_code == 200  # the form again, with its errors
    page = response.content.decode()
    assert "&#x27;count&#x27; must be between 0 and 1000000" in page
    assert not AlertRule.objects.filter(name="burst").exists()


def test_without_the_permission_the_admin_shows_rules_but_changes_nothing(viewer, rule):
    existing = rule("backlog")
    client = logged_in(viewer)
    assert client.get("/admin/sagas/alertrule/").status_code == 200
    assert client.get("/admin/sagas/alertrule/add/").status_code == 403
    response = client.post(
        f"/admin/sagas/alertrule/{existing.id}/change/",
        {"name": "renamed", "kind": "backlog", "params": "{}", "throttle_seconds": "0"},
    )
    assert response.status_code == 403
    assert AlertRule.objects.get(id=existing.id).name == existing.name


def test_the_admin_sends_a_test_alert_per_destination(manager, receiver):
    hook = AlertDestination.objects.create(
        name="ops", channel="webhook", url=receiver.url, secret=SECRET
    )
    response = logged_in(manager).post(
        "/admin/sagas/alertdestination/",
        {"action": "send_test_alert", "_selected_action": [hook.id]},
        follow=True,
    )
    assert "Test alert delivered to ops." in response.content.decode()
    assert len(receiver.accepted) == 1


def test_a_destination_secret_is_never_shown_and_kept_when_left_blank(manager, receiver):
    hook = AlertDestination.objects.create(
        name="ops", channel="webhook", url=receiver.url, secret=SECRET
    )
    client = logged_in(manager)
    page = client.get(f"/admin/sagas/alertdestination/{hook.id}/change/").content.decode()
    assert SECRET not in page
    response = client.post(
        f"/admin/sagas/alertdestination/{hook.id}/change/",
        {"name": "ops2", "channel": "webhook", "url": receiver.url, "secret": "", "emails": ""},
    )
    assert response.status_code == 302
    hook.refresh_from_db()
    assert (hook.name, hook.secret) == ("ops2", SECRET)
