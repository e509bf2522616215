"""The list's filters: what the live feed matches in Python must be what the page's query
selects in SQL, or rows would appear live that a reload would not show (or the reverse)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from dashboard import conf, filters, overview, payloads
from sagas.models import SagaInstance
from sagas.services.queries import InvalidQuery
from tests.factories import start
from tests.pages import EXTREME_TIMES, ODD_OFFSET
from tests.sockets import communicator, run
from tests.states import outcome_of, ran

pytestmark = pytest.mark.django_db
# A live socket: channels' database_sync_to_async closes the test's connection.
LIVE = pytest.mark.django_db(transaction=True)


def test_live_matching_agrees_with_the_query():
    sagas = [
        start("ledger", {}, correlation_id="alpha"),
        start("ledger", {"fail_at": "b"}, correlation_id="beta"),
        start("ledger", {}, correlation_id="gamma"),
    ]
    ran(sagas[0])
    ran(sagas[1], failing={"b": outcome_of(sagas[1], "b")})
    ran(sagas[2])
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
        {"q": str(sagas[1].id)[:8]},  # the short id the pages show
        {"q": str(sagas[2].id)[:13].upper()},
        {"q": "bet"},  # the start of a correlation id
        {"q": "eta"},  # not its middle
        {"from": hour_ago},
        {"to": hour_ago},
        {"from": hour_ago, "status": "completed"},
    ]
    rows = [payloads.list_row(s) for s in SagaInstance.objects.all()]
    for params in cases:
        query = filters.parse(params)
        selected = {str(s.id) for s in query.saga_filter.apply(SagaInstance.objects.all())}
        matched = {row["id"] for row in rows if query.matches(row)}
        assert matched == selected, params
        assert filters.parse(dict(_pairs(query.params()))) == query  # the URL round-trips


@LIVE
@pytest.mark.parametrize("field", ["from", "to"])
@pytest.mark.parametrize("value", EXTREME_TIMES)
def test_the_list_socket_refuses_extreme_dates_with_a_frame_and_4400(operator, field, value):
    # It crashed instead (close 1011): the time overflowed, or PostgreSQL refused its offset.
    start("ledger", {})

    async def scenario():
        ws = communicator(f"/ws/sagas/?{urlencode({field: value})}", operator)
        assert (await ws.connect(timeout=20))[0]
        frame = await ws.receive_json_from(timeout=20)
        assert (frame["type"], frame["code"]) == ("error", "bad_request")
        assert f"{field!r} must be a date between 1970 and 2999" in frame["error"]
        assert (await ws.receive_output(timeout=20))["code"] == 4400

    run(scenario)


@LIVE
def test_the_list_socket_takes_an_offset_postgresql_refuses_in_utc(operator):
    start("ledger", {})  # created now, after the filter's end: not in the snapshot

    async def scenario():
        ws = communicator(f"/ws/sagas/?{urlencode({'to': ODD_OFFSET})}", operator)
        assert (await ws.connect(timeout=20))[0]
        frame = await ws.receive_json_from(timeout=20)
        assert (frame["type"], frame["rows"]) == ("snapshot", [])
        await ws.disconnect()

    run(scenario)


def test_times_are_kept_in_utc_whatever_offset_they_were_given_in():
    query = filters.parse({"from": "2025-01-01T02:00+02:00", "to": "2025-01-01T00:00-14:00"})
    assert query.start == datetime(2025, 1, 1, tzinfo=UTC)
    assert query.start.utcoffset() == timedelta(0)
    assert query.end == datetime(2025, 1, 1, 14, 0, tzinfo=UTC)
    with pytest.raises(InvalidQuery) as refused:
        filters.parse({"to": "1969-12-31T23:59"})
    assert refused.value.field == "to"


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
