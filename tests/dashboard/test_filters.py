"""The list's filters: what the live feed matches in Python must be what the page's query
selects in SQL, or rows would appear live that a reload would not show (or the reverse)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import conf, filters, overview, payloads
from sagas.models import SagaInstance
from tests.factories import settle, start, worker

# The worker claims with the database clock, which a test-wide transaction would freeze.
pytestmark = pytest.mark.django_db(transaction=True)


def test_live_matching_agrees_with_the_query():
    sagas = [
        start("ledger", {}, correlation_id="alpha"),
        start("ledger", {"fail_at": "b"}, correlation_id="beta"),
        start("ledger", {}, correlation_id="gamma"),
    ]
    settle(worker())
    old = timezone.now() - timedelta(hours=2)
    SagaInstance.objects.filter(id=sagas[2].id).update(created_at=old)
    hour_ago = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    cases = [
        {},
        {"status": "compensated"},
        {"status": "completed", "type": "ledger"},
        {"q": "beta"},
        {"q": str(sagas[0].id)},
        {"q": str(sagas[0].id).upper()},
        {"from": hour_ago},
        {"to": hour_ago},
        {"from": hour_ago, "status": "completed"},
    ]
    rows = [payloads.summary(s) for s in SagaInstance.objects.all()]
    for params in cases:
        query = filters.parse(params)
        selected = {str(s.id) for s in query.saga_filter.apply(SagaInstance.objects.all())}
        matched = {row["id"] for row in rows if query.matches(row)}
        assert matched == selected, params
        assert filters.parse(dict(_pairs(query.params()))) == query  # the URL round-trips


def _pairs(qs: str):
    from urllib.parse import parse_qsl

    return parse_qsl(qs)


def test_stuck_thresholds_come_from_the_setting_then_the_saga_type_then_the_default(settings):
    settings.SAGASCOPE_STUCK_AFTER = {}
    assert conf.stuck_seconds("ledger") == conf.DEFAULT_STUCK_SECONDS
    settings.SAGASCOPE_STUCK_AFTER = {"*": 90}
    assert conf.stuck_seconds("ledger") == 90
    settings.SAGASCOPE_STUCK_AFTER = {"ledger": 30, "*": 90}
    assert conf.stuck_seconds("ledger") == 30


def test_percentile_interpolates_like_postgresql():
    assert overview._percentile([1.0], 0.95) == 1.0
    assert overview._percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)
    assert overview._percentile([float(n) for n in range(1, 101)], 0.95) == pytest.approx(95.05)
