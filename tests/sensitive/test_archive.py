"""An archive holds no sensitive value: a vault saga (its input edited once by an operator)
pruned by the real retention service, its archive file read raw and through archive_show."""

from __future__ import annotations

import gzip
import io
from datetime import timedelta

import pytest
from django.core.management import call_command

from sagas.models import SagaInstance
from sagas.sensitive import MARKER
from sagas.services import archive, retention
from sagas.services.actions import perform
from sagas.services.actors import Actor
from tests.factories import settle, start, worker

from .vault import CARD, INPUT, leaks

pytestmark = pytest.mark.django_db(transaction=True)
NEW_CARD = "6011000000000004"


def test_a_pruned_vault_saga_s_archive_is_masked(settings, tmp_path, django_user_model):
    settings.SAGASCOPE_ARCHIVE_DIR = str(tmp_path / "archive")
    root = django_user_model.objects.create_superuser("root", password="pw-root")
    saga = start("vault", INPUT, correlation_id="vault-archived")
    settle(worker())
    saga.refresh_from_db()
    SagaInstance.objects.filter(id=saga.id).update(status="failed", reason="test")
    perform(
        saga.id,
        "retry_with_input",
        actor=Actor.of_user(root),
        version=saga.version,
        reason="new card",
        new_input={**INPUT, "card_number": NEW_CARD},
    )
    settle(worker())
    saga.refresh_from_db()
    assert saga.status == "completed" and saga.input["card_number"] == NEW_CARD

    assert retention.prune(saga.finished_at + timedelta(days=31)).sagas == 1
    (path,) = archive.files()
    raw = gzip.decompress((tmp_path / "archive" / path).read_bytes()).decode()
    assert leaks(raw) == [] and NEW_CARD not in raw
    (record,) = archive.read_stored(path)
    assert record["saga"]["input"]["card_number"] == MARKER
    assert record["saga"]["input"]["amount"] == 10
    assert record["saga"]["results"]["charge"]["token"] == MARKER
    charges = [a for a in record["attempts"] if a["step_name"] == "charge" and a["result"]]
    assert charges and all(a["result"]["token"] == MARKER for a in charges)
    (edit,) = [a for a in record["operator_actions"] if a["action"] == "retry_with_input"]
    assert edit["detail"]["input_before"]["card_number"] == MARKER
    assert edit["detail"]["input_after"]["card_number"] == MARKER
    out = io.StringIO()
    call_command("archive_show", "--id", str(saga.id), "--json", stdout=out)
    assert (
        leaks(out.getvalue()) == []
        and NEW_CARD not in out.getvalue()
        and CARD not in out.getvalue()
    )
