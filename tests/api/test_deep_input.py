"""The API's retry_with_input reads its body with the strict parser: an input nested past
the interpreter's recursion limit is a 4xx with a message, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sagas.models import OperatorAction, SagaInstance
from tests.repairable import defined, make

# A worker runs here: it claims with the database clock, which a test-wide transaction
# would freeze.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def repairable():
    with defined():
        yield


@pytest.mark.parametrize(("opening", "closing"), [('{"a": ', "}"), ("[", "]")])
def test_retry_with_an_input_5000_levels_deep_is_a_4xx(opening, closing):
    saga = make("failed_compensating")
    operator = Client()
    operator.force_login(User.objects.create_superuser("root", password="pw-root"))
    # Written out: json.dumps itself cannot go 5,000 levels deep.
    deep = '{"deep": ' + opening * 5000 + "1" + closing * 5000 + "}"
    body = f'{{"version": {saga.version}, "reason": "fix", "input": {deep}}}'
    response = operator.post(
        f"/api/sagas/{saga.id}/retry_with_input", body, content_type="application/json"
    )
    assert 400 <= response.status_code < 500, response.content[:300]
    assert "nested too deeply" in response.json()["detail"]
    assert not OperatorAction.objects.exists()
    assert SagaInstance.objects.get(id=saga.id).input == {"refuse_ship": True}
