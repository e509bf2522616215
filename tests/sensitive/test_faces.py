"""Sensitive values never leave through a face unasked: the API's saga, list, history and
CSV, the detail page and its edit dialog, the admin. A reveal needs view_sensitive (token
scope `sensitive`) and leaves an audit row; without it, 403 and no row."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from sagas.models import OperatorAction, SagaInstance
from sagas.sensitive import MARKER

from .vault import CARD, EMAIL, TOKEN, leaks, logged_in, token_client

pytestmark = pytest.mark.django_db


def reveals(saga) -> list[OperatorAction]:
    return list(OperatorAction.objects.filter(saga=saga, action="reveal_sensitive"))


def test_the_api_masks_the_saga_its_attempts_the_list_history_and_csv(vault):
    api = token_client("read")
    body = api.get(f"/api/sagas/{vault.id}").json()
    assert body["input"]["card_number"] == MARKER
    assert body["input"]["customer"] == {"email": MARKER, "name": "Ada"}
    assert body["input"]["amount"] == 10
    assert body["context"]["charge"] == {"token": MARKER, "approved": True}
    charge = next(s for s in body["steps"] if s["name"] == "charge")
    assert charge["result"] == {"token": MARKER, "approved": True}
    for path in (
        f"/api/sagas/{vault.id}",
        "/api/sagas?type=vault",
        f"/api/sagas/{vault.id}/history",
        "/api/sagas.csv?type=vault&columns=id,type,status,correlation_id,reason",
    ):
        response = api.get(path)
        assert response.status_code == 200, path
        assert (
            leaks(b"".join(response).decode() if response.streaming else response.content.decode())
            == []
        )
    assert reveals(vault) == []


def test_the_api_reveals_only_to_the_sensitive_scope_and_records_it(vault):
    for path in (f"/api/sagas/{vault.id}?reveal=1", f"/api/sagas/{vault.id}/history?reveal=1"):
        refused = token_client("read").get(path)
        assert refused.status_code == 403 and leaks(refused.content.decode()) == []
    assert reveals(vault) == []
    api = token_client("read", "sensitive")
    body = api.get(f"/api/sagas/{vault.id}?reveal=1").json()
    assert body["input"]["card_number"] == CARD and body["context"]["charge"]["token"] == TOKEN
    history = api.get(f"/api/sagas/{vault.id}/history?reveal=1").json()
    assert history["saga"]["input"]["customer"]["email"] == EMAIL
    first, second = reveals(vault)
    assert {first.detail["via"], second.detail["via"]} == {"api", "history"}
    assert first.actor.startswith("token:") and first.status_after == "completed"
    assert first.detail["fields"] == [
        "input.card_number",
        "input.customer.email",
        "result.charge.token",
    ]


def test_the_detail_page_masks_for_everyone_until_a_permitted_reveal(vault, reader, revealer):
    for user in (reader, revealer):
        html = logged_in(user).get(f"/sagas/{vault.id}/").content.decode()
        assert leaks(html) == [] and json.dumps(MARKER) in html  # json_script escapes it
        assert "Sensitive fields are masked" in html
        # The edit dialog is prefilled from the operator panel: masked too.
        assert ("reveal-button" in html) == (user == revealer)
    refused = logged_in(reader).post(f"/sagas/{vault.id}/reveal/")
    assert refused.status_code == 403 and leaks(refused.content.decode()) == []
    assert logged_in(reader).get(f"/sagas/{vault.id}/reveal/").status_code == 405
    assert reveals(vault) == []
    shown = logged_in(revealer).post(f"/sagas/{vault.id}/reveal/")
    html = shown.content.decode()
    assert shown.status_code == 200 and sorted(leaks(html)) == sorted([CARD, EMAIL, TOKEN])
    assert "this reveal was recorded" in html
    (row,) = reveals(vault)
    assert row.user == revealer and row.detail["via"] == "dashboard"
    # The audit trail says who revealed, without the values.
    panel = logged_in(reader).get(f"/sagas/{vault.id}/operator/").json()
    assert panel["audit"][0]["action"] == "reveal_sensitive"
    assert panel["audit"][0]["actor"] == "revealer" and leaks(json.dumps(panel)) == []


def test_the_history_download_from_the_page_is_masked(vault, revealer):
    response = logged_in(revealer).get(f"/sagas/{vault.id}/history/")
    assert response.status_code == 200
    assert (
        leaks(b"".join(response).decode() if response.streaming else response.content.decode())
        == []
    )


def test_an_edit_that_keeps_the_masks_keeps_the_stored_values_and_its_diff_stays_masked(
    vault, reader
):
    SagaInstance.objects.filter(id=vault.id).update(status="failed", reason="test")
    vault.refresh_from_db()
    client = logged_in(reader)
    panel = client.get(f"/sagas/{vault.id}/operator/").json()
    edited = {**panel["input"], "amount": 12}
    assert edited["card_number"] == MARKER
    diff = client.post(f"/sagas/{vault.id}/input-diff/", {"input": json.dumps(edited)}).json()
    assert [c["path"] for c in diff["changes"]] == ["amount"]
    # A new card number: the diff shows that it changed, never the old nor the new one.
    changed = {**edited, "card_number": "5555444433332222"}
    diff = client.post(f"/sagas/{vault.id}/input-diff/", {"input": json.dumps(changed)}).json()
    card = next(c for c in diff["changes"] if c["path"] == "card_number")
    assert card["before"] == MARKER and card["after"] == MARKER and leaks(json.dumps(diff)) == []
    from sagas.services.actions import perform
    from sagas.services.actors import Actor

    perform(
        vault.id,
        "retry_with_input",
        actor=Actor.of_user(reader),
        version=vault.version,
        reason="amount was wrong",
        new_input=edited,
    )
    vault.refresh_from_db()
    assert vault.input["card_number"] == CARD and vault.input["customer"]["email"] == EMAIL
    assert vault.input["amount"] == 12
    audit = client.get(f"/sagas/{vault.id}/operator/").json()["audit"]
    assert leaks(json.dumps(audit)) == []


def test_the_admin_shows_input_results_and_audit_detail_masked(vault):
    root = User.objects.create_superuser("root", password="pw-root")
    client = logged_in(root)
    page = client.get(f"/admin/sagas/sagainstance/{vault.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert leaks(html) == [] and MARKER in html
    from sagas.services.actions import perform
    from sagas.services.actors import Actor

    SagaInstance.objects.filter(id=vault.id).update(status="failed", reason="test")
    perform(
        vault.id,
        "retry_with_input",
        actor=Actor.of_user(root),
        version=vault.version,
        reason="new card",
        new_input={**vault.input, "card_number": "5555444433332222"},
    )
    action = OperatorAction.objects.get(saga=vault, action="retry_with_input")
    assert action.detail["input_before"]["card_number"] == CARD  # stored whole
    html = client.get(f"/admin/sagas/operatoraction/{action.id}/change/").content.decode()
    assert leaks(html) == [] and "5555444433332222" not in html and MARKER in html
