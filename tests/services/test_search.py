"""Finding a saga by what the pages show: the 8-character short id (or any start of the id
of 4 hex digits or more, with or without dashes, any case) and the start of a correlation
id; on PostgreSQL both are index ranges, never a scan of the table."""

from __future__ import annotations

import json
import re
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from sagas.models import SagaInstance
from sagas.services.queries import InvalidQuery, SagaFilter, Search, page
from tests.factories import start

pytestmark = pytest.mark.django_db


def found(text: str) -> set[uuid.UUID]:
    rows, _ = page(SagaFilter(search=text), limit=200)
    return {s.id for s in rows}


@pytest.fixture
def sagas() -> dict[str, SagaInstance]:
    names = ["aq-test-1", "aq-test-2", "aq-prod-1", "ord-000001", "ORD-000002"]
    return {name: start("ledger", {}, correlation_id=name) for name in names}


def test_the_short_id_the_pages_show_finds_the_saga(sagas):
    saga = sagas["ord-000001"]
    short = str(saga.id)[:8]
    assert found(short) == {saga.id}
    assert found(short.upper()) == {saga.id}
    assert found(f"  {short}  ") == {saga.id}


def test_a_longer_start_of_the_id_with_or_without_dashes_finds_the_saga(sagas):
    saga = sagas["aq-prod-1"]
    text = str(saga.id)
    assert found(text[:13]) == {saga.id}  # "f2b6417b-12ab", as copied from a URL
    assert found(text[:13].replace("-", "")) == {saga.id}
    assert found(text[:23]) == {saga.id}
    assert found(text) == {saga.id}
    assert found(saga.id.hex) == {saga.id}


def test_the_start_of_a_correlation_id_finds_every_saga_it_begins(sagas):
    assert found("aq-test") == {sagas["aq-test-1"].id, sagas["aq-test-2"].id}
    assert found("aq-") == {sagas[n].id for n in ("aq-test-1", "aq-test-2", "aq-prod-1")}
    assert found("aq-test-2") == {sagas["aq-test-2"].id}  # a whole one still finds itself


def test_a_search_that_matches_nothing_finds_nothing(sagas):
    ids = {str(s.id)[:5] for s in sagas.values()}
    absent = next(f"{n:05x}" for n in range(16**5) if f"{n:05x}" not in ids)
    assert found(absent) == set()
    assert found("zz-nothing") == set()
    assert found("test-1") == set()  # a correlation id matches by its start, not inside


def test_text_that_is_not_hex_is_only_a_correlation_id():
    assert Search.parse("ord-0000").ids is None  # "o", "r": not an id
    assert Search.parse("abc").ids is None  # 3 digits: too short to mean an id
    low, high = Search.parse("F2B6-417b").ids
    assert (str(low), str(high)) == (
        "f2b6417b-0000-0000-0000-000000000000",
        "f2b6417b-ffff-ffff-ffff-ffffffffffff",
    )
    assert Search.parse("f" * 33).ids is None  # longer than an id


def test_a_search_no_database_could_compare_is_refused():
    for text, why in [("a\x00b", "NUL"), ("x" * 201, "longer than 200"), ("\ud800", "surrogate")]:
        with pytest.raises(InvalidQuery, match=why):
            found(text)


def test_the_dashboard_list_finds_by_short_id_and_correlation_prefix(sagas, admin_client):
    def listed(q: str) -> set[str]:
        response = admin_client.get(reverse("saga-list"), {"q": q})
        assert response.status_code == 200, response.content
        return set(re.findall(r'<tr data-id="([0-9a-f-]+)"', response.content.decode()))

    saga = sagas["aq-test-2"]
    assert listed(str(saga.id)[:8]) == {str(saga.id)}
    assert listed("aq-test") == {str(sagas["aq-test-1"].id), str(saga.id)}


def test_the_api_list_takes_a_search(sagas):
    out = StringIO()
    call_command("create_api_token", "reader", "--scope", "read", stdout=out)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    saga = sagas["ord-000001"]
    items = api.get("/api/sagas", {"search": str(saga.id)[:8]}).json()["items"]
    assert [item["id"] for item in items] == [str(saga.id)]
    items = api.get("/api/sagas", {"search": "aq-test"}).json()["items"]
    assert {item["correlation_id"] for item in items} == {"aq-test-1", "aq-test-2"}
    # The exact filter keeps its meaning (the API's contract).
    assert api.get("/api/sagas", {"correlation_id": "aq-test"}).json()["items"] == []
    refused = api.get("/api/sagas", {"search": "a\x00"})
    # Refused as the API refuses any bad filter (InvalidQuery), naming the problem.
    assert refused.status_code in (400, 422) and "NUL" in json.dumps(refused.json())


ROWS = 200_000


@pytest.mark.postgres
def test_postgres_serves_both_searches_from_indexes():
    template = start("ledger", {}, correlation_id="template")
    table = SagaInstance._meta.db_table
    columns = [f.column for f in SagaInstance._meta.concrete_fields]
    made = {
        "id": "gen_random_uuid()",
        "correlation_id": "'c-' || lpad(i::text, 7, '0')",
        "created_at": "now() - make_interval(secs => i)",
    }
    values = ", ".join(made.get(c, connection.ops.quote_name(c)) for c in columns)
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({quoted}) SELECT {values} "
            f"FROM {table}, generate_series(1, {ROWS}) AS i WHERE {table}.id = %s",
            [template.id],
        )
        cursor.execute(f"ANALYZE {table}")
    assert SagaInstance.objects.count() == ROWS + 1
    some = SagaInstance.objects.get(correlation_id="c-0123456")

    def plan(text: str) -> str:
        qs = SagaFilter(search=text).apply(SagaInstance.objects.all())
        listing = qs.order_by("-created_at", "-id")[:51].explain()
        counting = qs.order_by().values("id").explain()  # the "all N match" count
        return listing + "\n" + counting

    for text in [str(some.id)[:8], "c-012345"]:
        explained = plan(text)
        assert "Seq Scan" not in explained, explained
        assert "saga_correlation_prefix_idx" in explained, explained
        assert "sagas_sagainstance_pkey" in explained, explained
    assert found(str(some.id)[:8]) == {some.id}
    assert len(found("c-012345")) == 10
    # A non-hex text has no id half: the prefix index alone.
    explained = plan("c-01234")
    assert "Seq Scan" not in explained and "saga_correlation_prefix_idx" in explained, explained
