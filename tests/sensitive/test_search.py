"""Search on a sensitive field: equality only (=, !=, IN), through the keyed hashes stored
at start and at input edits; `~`, ranges, a sensitive result and a field holding or
inside a sensitive one are refused with the reason. On PostgreSQL and SQLite."""

from __future__ import annotations

import pytest

from sagas.models import SagaInstance
from sagas.services import saga_query
from sagas.services.actions import perform
from sagas.services.actors import Actor
from sagas.services.saga_query import QuerySyntaxError
from tests.factories import start

from .vault import CARD, EMAIL, INPUT, token_client

pytestmark = pytest.mark.django_db


def found(text: str) -> set[str]:
    return {s.correlation_id for s in saga_query.matching(SagaInstance.objects.all(), text)}


@pytest.fixture
def cards():
    start("vault", INPUT, correlation_id="ada")
    bob = {"card_number": "5555444433332222", "customer": {"email": "bob@example.org"}}
    start("vault", bob, correlation_id="bob")
    start("vault", {"amount": 1}, correlation_id="none")  # no card at all
    start("ledger", {"card_number": CARD}, correlation_id="ledger")  # not sensitive there


def test_equality_matches_by_the_keyed_hash(cards):
    stored = SagaInstance.objects.get(correlation_id="ada")
    assert set(stored.sensitive_hashes) == {"input.card_number", "input.customer.email"}
    assert CARD not in str(stored.sensitive_hashes)
    assert found(f'type = vault AND input.card_number = "{CARD}"') == {"ada"}
    assert found(f'input.customer.email = "{EMAIL}"') == {"ada"}
    assert found(f'input.card_number IN ("{CARD}", "5555444433332222")') == {"ada", "bob"}
    assert found(f'type = vault AND input.card_number != "{CARD}"') == {"bob"}
    assert found(f'type = vault AND NOT input.card_number = "{CARD}"') == {"bob", "none"}
    assert found('input.card_number = "4111"') == set()  # no prefix, no partial match
    # The hash is what is compared: a saga whose type marks nothing sensitive has none, so
    # a field sensitive elsewhere is found there only by its hash too.
    assert "ledger" not in found(f'input.card_number = "{CARD}"')


def test_an_edited_input_is_found_by_its_new_value(cards, django_user_model):
    saga = SagaInstance.objects.get(correlation_id="bob")
    SagaInstance.objects.filter(id=saga.id).update(status="failed", reason="test")
    root = django_user_model.objects.create_superuser("root", password="pw-root")
    new = {**saga.input, "card_number": "6011000000000004"}
    perform(
        saga.id,
        "retry_with_input",
        actor=Actor.of_user(root),
        version=saga.version,
        reason="new card",
        new_input=new,
    )
    assert found('input.card_number = "6011000000000004"') == {"bob"}
    assert found('input.card_number = "5555444433332222"') == set()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('input.card_number ~ "4111"', "matches by equality only (=, != or IN)"),
        ('input.card_number > "4"', "matches by equality only"),
        ('input.customer.email ~ "example"', "matches by equality only"),
        ('result.charge.token = "tok"', "step results marked sensitive cannot be searched"),
        ('input.customer ~ "ada"', "holds or lies inside the sensitive field input.customer.email"),
        ("input.card_number.x = 1", "holds or lies inside the sensitive field input.card_number"),
    ],
)
def test_what_would_probe_a_sensitive_value_is_refused(cards, text, words):
    with pytest.raises(QuerySyntaxError) as refused:
        found(text)
    assert words in str(refused.value) and str(refused.value).startswith("at 1:")


def test_the_api_search_finds_by_hash_and_refuses_a_probe_with_422(cards):
    api = token_client("read")
    body = api.get("/api/sagas", {"query": f'input.card_number = "{CARD}"'}).json()
    assert [s["correlation_id"] for s in body["items"]] == ["ada"]
    refused = api.get("/api/sagas", {"query": 'input.card_number ~ "41"'})
    assert refused.status_code == 422 and "equality only" in refused.json()["detail"]
