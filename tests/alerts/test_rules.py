"""Rules: their parameters are validated per kind with errors naming the field; changes
need sagas.manage_alerts; rules become alerts deduplicated per rule and key, throttled,
resolved when the cause goes; one evaluator at a time."""

from __future__ import annotations

import importlib
import time
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from sagas.models import (
    Alert,
    AlertDelivery,
    AlertDestination,
    AlertRule,
    OutboxMessage,
    Problem,
    ProcessHeartbeat,
    SagaInstance,
)
from sagas.models.alerts import AlertKind
from sagas.services import alerts
from sagas.services.actions import perform
from sagas.services.actors import Actor
from sagas.services.alerting.evaluate import evaluate, give_up_turn, take_turn
from tests.factories import settle, worker
from tests.repairable import make, works

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Actor(name="root", scopes=frozenset({"operate"}))


@pytest.mark.parametrize(
    ("kind", "params", "field", "says"),
    [
        ("failure_burst", {"count": "ten"}, "params", "'count' must be a whole number"),
        ("failure_burst", {"minutes": 0}, "params", "'minutes' must be between 1 and 1440"),
        ("failure_burst", {"cuont": 3}, "params", "unknown parameter 'cuont'"),
        ("stuck", {"phase": "sideways"}, "params", "'phase' must be one of forward"),
        ("compensation_rate", {"percent": 120}, "params", "'percent' must be between 1 and 100"),
        ("backlog", [1, 2], "params", "must be a JSON object"),
        ("no_live_worker", {"seconds": 1}, "params", "'seconds' must be between 5 and"),
        ("no_such_kind", {}, "kind", "not a valid choice"),
    ],
)
def test_an_invalid_rule_is_refused_naming_the_field(manager, kind, params, field, says):
    bad = AlertRule(name="bad", kind=kind, params=params)
    with pytest.raises(ValidationError) as caught:
        alerts.save_rule(Actor.of_user(manager), bad)
    assert field in caught.value.message_dict
    assert says in " ".join(caught.value.message_dict[field])
    assert not AlertRule.objects.filter(name="bad").exists()


def test_a_huge_note_and_a_type_on_an_untyped_kind_are_refused(manager):
    with pytest.raises(ValidationError) as caught:
        alerts.save_rule(
            Actor.of_user(manager), AlertRule(name="n", kind="new_problem", note="x" * 5000)
        )
    assert caught.value.message_dict["note"] == ["at most 2000 characters (this one has 5000)"]
    with pytest.raises(ValidationError) as caught:
        alerts.save_rule(
            Actor.of_user(manager), AlertRule(name="t", kind="backlog", saga_type="order")
        )
    assert "does not filter by type" in caught.value.message_dict["saga_type"][0]


def test_parameters_are_completed_with_their_defaults(manager):
    saved = alerts.save_rule(Actor.of_user(manager), AlertRule(name="s", kind="stuck", params={}))
    assert AlertRule.objects.get(id=saved.id).params == {"seconds": 300, "phase": "forward"}


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"channel": "webhook", "url": "ftp://x.test/h", "secret": "s" * 20}, "url", "http://"),
        ({"channel": "webhook", "url": "http://x.test/h", "secret": "short"}, "secret", "16"),
        ({"channel": "email", "emails": "ops@x.test\nnot-an-address"}, "emails", "not-an-addr"),
        ({"channel": "email", "emails": ""}, "emails", "needs an address"),
        ({"channel": "slack", "url": ""}, "url", "needs a URL"),
    ],
)
def test_an_invalid_destination_is_refused_naming_the_field(manager, fields, field, says):
    with pytest.raises(ValidationError) as caught:
        alerts.save_destination(Actor.of_user(manager), AlertDestination(name="d", **fields))
    assert says in " ".join(caught.value.message_dict[field])


def test_the_seeded_default_rules_are_valid_and_nothing_is_sent_by_default():
    seeds = importlib.import_module("sagas.migrations.0014_default_alert_rules")
    kinds = set()
    for name, kind, params, note in seeds.RULES:
        AlertRule(name=name, kind=kind, params=params, note=note).full_clean()
        kinds.add(kind)
    assert kinds == set(AlertKind.values)  # every kind has a default rule
    assert not AlertDestination.objects.exists()


def test_changing_rules_or_destinations_needs_the_alerts_permission(viewer):
    actor = Actor.of_user(viewer)
    with pytest.raises(PermissionDenied, match="may not change alert rules"):
        alerts.save_rule(actor, AlertRule(name="r", kind="new_problem"))
    destination = AlertDestination(name="d", channel="email", emails="a@x.test")
    with pytest.raises(PermissionDenied):
        alerts.save_destination(actor, destination)
    token = Actor(name="token:ci", scopes=frozenset({"read", "start", "operate"}))
    with pytest.raises(PermissionDenied):
        alerts.save_rule(token, AlertRule(name="r", kind="new_problem"))
    assert not AlertRule.objects.filter(name="r").exists()


def test_a_new_problem_fires_one_alert_deduplicated_then_resolves(repairable, rule, webhook):
    rule("new_problem")
    make("failed_forward")
    assert evaluate() == 1
    alert = Alert.objects.get()
    assert (alert.key, alert.state) == (f"problem:{Problem.objects.get().id}", "fired")
    assert "New problem in repairable" in alert.title
    make("failed_forward")  # the same cause: the same problem, the same alert
    assert evaluate() == 0
    alert.refresh_from_db()
    assert (Alert.objects.count(), alert.seen) == (1, 2)
    assert AlertDelivery.objects.filter(alert=alert, destination=webhook).count() == 1
    Problem.objects.update(status="resolved", resolved_at=timezone.now())
    evaluate()
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_at is not None
    evaluate()  # a problem is new once: nothing fires again for it
    assert Alert.objects.count() == 1


def test_a_regression_fires_its_own_alert(repairable, rule, webhook):
    rule("regression")
    make("failed_forward")
    assert evaluate() == 0  # new, not regressed
    Problem.objects.update(status="resolved", resolved_at=timezone.now())
    make("failed_forward")
    assert evaluate() == 1
    assert Alert.objects.get().title.startswith("Problem regressed in repairable")


def test_a_condition_that_returns_within_the_throttle_is_recorded_not_sent(
    repairable, rule, webhook
):
    burst = rule("failure_burst", params={"count": 0, "minutes": 5}, throttle_seconds=600)
    saga = make("failed_forward")
    assert evaluate() == 1
    works["notify"] = True
    perform(saga.id, "retry", actor=ROOT, version=saga.version, reason="mail server back")
    settle(worker())
    evaluate()
    assert Alert.objects.get().state == "resolved"
    works["notify"] = False
    make("failed_forward")
    assert evaluate() == 0
    again = Alert.objects.get(state="fired")
    assert again.throttled and not again.deliveries.exists()
    # With no throttle the same return is sent.
    Alert.objects.all().delete()
    AlertRule.objects.filter(id=burst.id).update(throttle_seconds=0)
    assert evaluate() == 1


def test_failures_of_one_type_counted_against_n_in_m_minutes(repairable, rule):
    rule("failure_burst", params={"count": 2, "minutes": 5})
    make("failed_forward")
    make("failed_forward")
    evaluate()
    assert not Alert.objects.exists()
    make("failed_compensating")
    evaluate()
    assert Alert.objects.get().title == "3 repairable sagas failed in 5 min"


def test_dead_letters_fire_but_expired_commands_do_not(rule):
    rule("dead_letters", params={"count": 0, "minutes": 60})
    now = timezone.now()

    def dead(reason: str) -> None:
        OutboxMessage.objects.create(
            kind="reply",
            destination="orchestrator",
            status="dead",
            last_error=reason,
            available_at=now,
            created_at=now,
            sent_at=now,
        )

    dead("expired: its attempt timed out before delivery; a retry supersedes it")
    evaluate()
    assert not Alert.objects.exists()
    dead("reply failed its schema: 'status' is required")
    evaluate()
    assert Alert.objects.get().key == "outbox"


def test_a_stuck_saga_and_a_backlog_fire(repairable, rule):
    rule("stuck", params={"seconds": 60, "phase": "forward"})
    rule("backlog", params={"seconds": 30})
    saga = make("running")
    evaluate()
    assert not Alert.objects.exists()
    long_ago = timezone.now() - timedelta(minutes=5)
    SagaInstance.objects.filter(id=saga.id).update(updated_at=long_ago, next_run_at=long_ago)
    evaluate()
    assert sorted(Alert.objects.values_list("key", flat=True)) == ["backlog", "type:repairable"]


def test_no_live_worker_fires_until_a_worker_beats_and_resolves_after(rule):
    rule("no_live_worker", params={"seconds": 30})
    evaluate()  # no worker ever beat
    alert = Alert.objects.get()
    assert (alert.key, alert.title) == ("workers", "No live worker")
    beat = ProcessHeartbeat.objects.create(
        process_id="w1",
        kind="worker",
        host="here",
        pid=1,
        started_at=timezone.now(),
        last_beat=timezone.now(),
        lease_seconds=30,
    )
    evaluate()
    alert.refresh_from_db()
    assert alert.state == "resolved"
    ProcessHeartbeat.objects.filter(id=beat.id).update(
        last_beat=timezone.now() - timedelta(minutes=2)
    )
    evaluate()  # silent for two minutes: dead
    assert Alert.objects.filter(key="workers").exclude(state="resolved").count() == 1


def test_a_rule_that_breaks_does_not_stop_the_others(repairable, rule, webhook):
    broken = rule("failure_burst")
    AlertRule.objects.filter(id=broken.id).update(params={"count": "x", "minutes": 5})
    rule("new_problem")
    make("failed_forward")
    assert evaluate() == 1


def test_one_evaluator_at_a_time():
    assert take_turn("w1", 10)
    assert not take_turn("w2", 10)
    assert take_turn("w1", 10)  # renewing its own lease
    give_up_turn("w1")
    assert take_turn("w2", 0.5)
    assert not take_turn("w1", 10)
    time.sleep(0.6)
    assert take_turn("w1", 10)  # w2's lease lapsed
