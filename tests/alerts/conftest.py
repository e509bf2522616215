"""Fixtures for the alert tests: a rule maker, destinations, a real webhook receiver,
quick timeouts and backoff, and users with and without the alerts permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from sagas.models import AlertDestination, AlertRule
from tests.alerts.receiver import SECRET, Receiver
from tests.repairable import defined


@pytest.fixture(autouse=True)
def quick(settings):
    settings.SAGASCOPE_ALERT_TIMEOUT = 1.0
    settings.SAGASCOPE_ALERT_BACKOFF = 0.05
    settings.SAGASCOPE_ALERT_INTERVAL = 0.2


@pytest.fixture(autouse=True)
def no_seeded_rules(db):
    # The migration's default rules are there until the first transactional test flushes
    # them: each test starts from none, whatever ran before it.
    AlertRule.objects.all().delete()


@pytest.fixture
def repairable():
    with defined():
        yield


@pytest.fixture
def rule(db):
    def make(kind: str = "new_problem", **kw) -> AlertRule:
        kw.setdefault("name", f"{kind} {AlertRule.objects.count()}")
        made = AlertRule(kind=kind, **kw)
        made.full_clean()
        made.save()
        return made

    return make


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def webhook(db, receiver):
    return AlertDestination.objects.create(
        name="ops hook", channel="webhook", url=receiver.url, secret=SECRET
    )


@pytest.fixture
def manager(django_user_model):
    user = django_user_model.objects.create_user("alerts-admin", "a@x.test", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="manage_alerts"))
    return django_user_model.objects.get(id=user.id)  # fresh permission cache


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", "v@x.test", "pw", is_staff=True)
