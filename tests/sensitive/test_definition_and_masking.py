"""What a definition may mark sensitive, and the masked copies and keyed hashes made from
it (sagas/sensitive.py): no database."""

from __future__ import annotations

import pytest
from django.test import override_settings

from sagas import sensitive
from sagas.definition import Saga, Step
from sagas.exceptions import SagaDefinitionError
from sagas.sensitive import MARKER


def step(ctx):
    return {}


def define(paths):
    class Probe(Saga):
        name = "probe"
        register = False
        sensitive = paths
        steps = [Step("charge", action=step), Step("ship", action=step, pivot=True)]

    return Probe


@pytest.mark.parametrize(
    ("paths", "words"),
    [
        ("card_number", "must be a list of paths"),
        ([42], "must be a string"),
        (["customer..email"], "must be dotted names"),
        (["customer.e mail"], "must be dotted names"),
        (["a__b"], "must be dotted names"),
        (["result.charge"], "needs a step and a field"),
        (["result.refund.token"], "names no step of this saga; steps are charge, ship"),
        (["a.b.c.d.e.f.g.h.i"], "at most 8 deep"),
        (["card.*"], "must be dotted names"),
    ],
)
def test_a_bad_sensitive_path_is_refused_when_the_class_is_defined(paths, words):
    with pytest.raises(SagaDefinitionError) as refused:
        define(paths)
    assert words in str(refused.value) and "saga 'probe'" in str(refused.value)


def test_paths_are_named_as_the_search_language_names_them():
    probe = define(["card_number", "customer.email", "result.charge.token", "result.*.iban"])
    assert probe.sensitive_paths.names() == [
        "input.card_number",
        "input.customer.email",
        "result.charge.token",
        "result.*.iban",
    ]
    assert not define([]).sensitive_paths


def test_input_results_and_an_attempts_result_are_masked_copies():
    probe = define(["card_number", "customer.email", "items.pan", "result.charge.token"])
    data = {
        "card_number": "4111",
        "customer": {"email": "a@b.c", "name": "Ada"},
        "items": [{"pan": "1"}, {"pan": "2", "qty": 3}],
        "amount": 10,
        "missing": None,
    }
    masked = sensitive.mask_input(probe, data)
    assert masked == {
        "card_number": MARKER,
        "customer": {"email": MARKER, "name": "Ada"},
        "items": [{"pan": MARKER}, {"pan": MARKER, "qty": 3}],
        "amount": 10,
        "missing": None,
    }
    assert data["card_number"] == "4111"  # the original is untouched
    results = {"charge": {"token": "t", "ok": True}, "ship": {"token": "not marked"}}
    assert sensitive.mask_results(probe, results) == {
        "charge": {"token": MARKER, "ok": True},
        "ship": {"token": "not marked"},
    }
    assert sensitive.mask_result(probe, "charge", {"token": "t"}) == {"token": MARKER}
    every = define(["result.*.token"])
    assert sensitive.mask_results(every, results) == {
        "charge": {"token": MARKER, "ok": True},
        "ship": {"token": MARKER},
    }


def test_an_edits_diff_and_inputs_are_masked_in_an_actions_detail():
    probe = define(["card_number", "customer.email"])
    detail = {
        "input_before": {"card_number": "1", "customer": {"email": "old@x"}},
        "input_after": {"card_number": "2", "customer": {"email": "new@x"}},
        "input_diff": [
            {"path": "card_number", "op": "changed", "before": "1", "after": "2"},
            {"path": "customer", "op": "added", "before": None, "after": {"email": "n@x"}},
            {"path": "amount", "op": "changed", "before": 1, "after": 2},
        ],
    }
    masked = sensitive.mask_detail(probe, detail)
    assert "old@x" not in str(masked) and "new@x" not in str(masked) and "n@x" not in str(masked)
    assert masked["input_diff"][0] == {
        "path": "card_number",
        "op": "changed",
        "before": MARKER,
        "after": MARKER,
    }
    assert masked["input_diff"][1]["after"] == {"email": MARKER}
    assert masked["input_diff"][2]["after"] == 2


def test_a_marker_sent_back_keeps_the_stored_value_and_a_new_value_replaces_it():
    probe = define(["card_number", "customer.email"])
    stored = {"card_number": "4111", "customer": {"email": "a@b.c"}}
    kept = sensitive.restore(probe, {"card_number": MARKER, "customer": {"email": MARKER}}, stored)
    assert kept == stored
    changed = sensitive.restore(
        probe, {"card_number": "5555", "customer": {"email": MARKER}}, stored
    )
    assert changed == {"card_number": "5555", "customer": {"email": "a@b.c"}}


def test_the_fingerprint_is_keyed_and_typed():
    with override_settings(SAGASCOPE_SENSITIVE_KEY="k" * 40):
        one = sensitive.fingerprint("4111")
        assert one == sensitive.fingerprint("4111") and len(one) == 64
        assert sensitive.fingerprint(4111) != one  # 4111 is not "4111", as in search
    with override_settings(SAGASCOPE_SENSITIVE_KEY="other-" * 8):
        assert sensitive.fingerprint("4111") != one
    with override_settings(SAGASCOPE_SENSITIVE_KEY="", SECRET_KEY="s" * 50):
        derived = sensitive.fingerprint("4111")
    with override_settings(SAGASCOPE_SENSITIVE_KEY="", SECRET_KEY="t" * 50):
        assert sensitive.fingerprint("4111") != derived  # derived from SECRET_KEY


def test_input_hashes_name_each_sensitive_scalar_found():
    probe = define(["card_number", "customer.email", "absent"])
    hashes = sensitive.input_hashes(probe, {"card_number": "4111", "customer": {"email": "e"}})
    assert hashes == {
        "input.card_number": sensitive.fingerprint("4111"),
        "input.customer.email": sensitive.fingerprint("e"),
    }


def test_a_short_sensitive_key_stops_a_deployment_and_unset_it_is_derived(settings):
    import secrets

    from sagas.checks import check_secrets

    settings.DEBUG = False
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    settings.SAGASCOPE_PARTICIPANT_URLS = ""
    settings.SAGASCOPE_PARTICIPANT_SECRETS = ""
    settings.SAGASCOPE_SENSITIVE_KEY = "short"
    assert [e.id for e in check_secrets(None)] == ["sagas.E003"]
    settings.SAGASCOPE_SENSITIVE_KEY = secrets.token_urlsafe(32)
    assert check_secrets(None) == []
    settings.SAGASCOPE_SENSITIVE_KEY = ""  # derived from the (checked) SECRET_KEY
    assert check_secrets(None) == []


def test_message_bodies_are_masked_by_their_shape_for_archives():
    probe = define(["card_number", "result.charge.token"])
    command = {"input": {"card_number": "4111", "amount": 1}, "results": {"charge": {"token": "t"}}}
    assert sensitive.mask_message_body(probe, command) == {
        "input": {"card_number": MARKER, "amount": 1},
        "results": {"charge": {"token": MARKER}},
    }
    reply = {"status": "ok", "result": {"token": "t", "ok": True}}
    assert sensitive.mask_message_body(probe, reply, "charge")["result"] == {
        "token": MARKER,
        "ok": True,
    }
    payload = {"card_number": "4111", "amount": 1}  # a step's own payload
    assert sensitive.mask_message_body(probe, payload) == {"card_number": MARKER, "amount": 1}


def test_scrub_masks_the_values_a_text_quotes_but_not_short_ones():
    probe = define(["card_number", "pin", "result.charge.token"])
    text = "card 4111111111111111 (pin 12) declined; token tok-9 and tok-99999"
    scrubbed = sensitive.scrub(
        probe,
        text,
        {"card_number": "4111111111111111", "pin": "12"},
        {"charge": {"token": "tok-99999"}},
    )
    assert scrubbed == f"card {MARKER} (pin 12) declined; token tok-9 and {MARKER}"
    assert sensitive.scrub(define([]), text, {"card_number": "4111111111111111"}) == text
