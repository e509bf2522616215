"""Saga definitions are validated when the class is defined, with errors that name names."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from sagas.definition import Retry, Saga, Step
from sagas.exceptions import SagaDefinitionError
from sagas.registry import registry


def noop(ctx):
    return None


def define(name, steps):
    return type("S", (Saga,), {"name": name, "steps": steps, "register": False})


def test_compensatable_after_the_pivot_is_refused_naming_saga_and_step():
    with pytest.raises(SagaDefinitionError) as err:
        define(
            "bad",
            [
                Step("pay", action=noop, pivot=True),
                Step("refundable", action=noop, compensation=noop),
            ],
        )
    message = str(err.value)
    assert "saga 'bad'" in message and "step 'refundable'" in message
    assert "compensatable*, pivot?, retriable*" in message


def test_pivot_after_a_retriable_step_and_two_pivots_are_refused():
    with pytest.raises(SagaDefinitionError, match="step 'ship'"):
        define(
            "bad",
            [Step("mail", action=noop, retriable=True), Step("ship", action=noop, pivot=True)],
        )
    with pytest.raises(SagaDefinitionError, match="step 'second'"):
        define(
            "bad", [Step("first", action=noop, pivot=True), Step("second", action=noop, pivot=True)]
        )


def test_other_mistakes_are_refused():
    with pytest.raises(SagaDefinitionError, match="no steps"):
        define("empty", [])
    with pytest.raises(SagaDefinitionError, match="repeated"):
        define("dup", [Step("a", action=noop), Step("a", action=noop)])
    with pytest.raises(SagaDefinitionError, match="never compensated"):
        Step("ship", action=noop, compensation=noop, pivot=True)
    with pytest.raises(SagaDefinitionError, match="needs either an action"):
        Step("nothing")
    with pytest.raises(SagaDefinitionError, match="needs either an action"):
        Step("both", action=noop, command="svc.do")
    with pytest.raises(SagaDefinitionError, match="must look like 'service.command'"):
        Step("bad", command="nodot")
    with pytest.raises(SagaDefinitionError, match="only local steps can be atomic"):
        Step("remote", command="svc.do", atomic=True)
    with pytest.raises(SagaDefinitionError, match="timeout"):
        Step("slow", action=noop, timeout=0)
    with pytest.raises(SagaDefinitionError, match="max_attempts"):
        Retry(max_attempts=0)
    with pytest.raises(SagaDefinitionError, match="needs a `name`"):
        type("Nameless", (Saga,), {"steps": [Step("a", action=noop)]})


def test_a_valid_definition_has_kinds_defaults_and_a_stable_fingerprint():
    ok = define(
        "ok",
        [
            Step("a", action=noop, compensation=noop),
            Step("p", action=noop, pivot=True),
            Step("r", action=noop, retriable=True),
        ],
    )
    assert [s.kind for s in ok.steps] == ["compensatable", "pivot", "retriable"]
    assert ok.steps[2].policy("forward").max_attempts is None  # retried until it succeeds
    assert ok.fingerprint() == define("ok", list(ok.steps)).fingerprint()


def test_remote_steps_get_a_default_timeout_and_name_their_commands():
    step = Step("charge", command="payment.charge", compensation="payment.refund")
    assert step.timeout == 30.0
    assert step.command_for("forward") == "payment.charge"
    assert step.command_for("compensation") == "payment.refund"
    mixed = Step("reserve", action=noop, compensation="inventory.release")
    assert mixed.command_for("forward") is None and mixed.has_compensation


def test_incompatibility_allows_appending_and_names_removed_or_moved_steps():
    new = define("v2", [Step("a", action=noop), Step("b", action=noop), Step("c", action=noop)])
    assert new.incompatibility(["a", "b"]) is None
    assert "step 'x' was removed" in new.incompatibility(["a", "x"])
    assert "moved" in new.incompatibility(["b", "a"])


def test_sagas_are_discovered_from_installed_apps_and_listed(capsys):
    assert {"order", "ledger"} <= set(registry.names())
    call_command("saga_types")
    out = capsys.readouterr().out
    assert "order" in out and "schedule_shipping: pivot" in out
    assert "ledger" in out


def test_two_classes_cannot_claim_one_name():
    with pytest.raises(SagaDefinitionError, match="defined twice"):
        type("Other", (Saga,), {"name": "order", "steps": [Step("a", action=noop)]})
