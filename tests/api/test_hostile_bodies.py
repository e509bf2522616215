"""Bodies a schema cannot describe and a fuzzer rarely builds: text PostgreSQL cannot
store, nesting deeper than a parser recurses, numbers past 64 bits. Each is a 4xx naming
the problem, never a 500, and starts no saga."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from sagas.models import SagaInstance

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Client:
    out = StringIO()
    call_command("create_api_token", "hostile", stdout=out)
    return Client(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")


def start(api: Client, raw: str, **headers: str):
    return api.post("/api/sagas", raw, content_type="application/json", **headers)


HOSTILE = {
    "NUL in the input": r'{"type": "ledger", "input": {"note": "a\u0000b"}}',
    "NUL in an input key": r'{"type": "ledger", "input": {"a\u0000": 1}}',
    "NUL in correlation_id": r'{"type": "ledger", "input": {}, "correlation_id": "x\u0000"}',
    "lone surrogate in the input": r'{"type": "ledger", "input": {"note": "\ud800"}}',
    "lone surrogate in the type": r'{"type": "\udfff", "input": {}}',
    "nesting deeper than the parser recurses": '{"type": "ledger", "input": {"a": '
    + "[" * 100_000
    + "]" * 100_000
    + "}}",
    "nesting past what a saga input may have": '{"type": "ledger", "input": {"a": '
    + "[" * 90
    + "]" * 90
    + "}}",
    "a float past double": '{"type": "ledger", "input": {"n": 1e999}}',
    "NaN": '{"type": "ledger", "input": {"n": NaN}}',
    "a JSON string, not an object": '"ledger"',
    "null": "null",
    "an empty body": "",
    "invalid UTF-8": b'{"type": "ledger", "input": {"a": "\xff\xfe"}}',
}


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_body_is_a_4xx_with_a_message_and_starts_nothing(api, raw):
    r = start(api, raw)
    assert 400 <= r.status_code < 500, r.content[:300]
    assert r["Content-Type"].startswith("application/json")
    assert r.json()["detail"]
    assert not SagaInstance.objects.exists()


@pytest.mark.parametrize("key", ["k\x00ey", "\ud800", "x" * 201])
def test_a_hostile_idempotency_key_is_refused(api, key):
    r = start(api, '{"type": "ledger", "input": {}}', HTTP_IDEMPOTENCY_KEY=key)
    assert 400 <= r.status_code < 500, r.content[:300]
    assert "Idempotency-Key" in r.json()["detail"]
    assert not SagaInstance.objects.exists()
