"""GET /metrics: Prometheus text from prometheus-client, parsed back with its own parser and
checked against the sagas the test ran; and who may read it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from sagas.models import (
    Alert,
    AlertDelivery,
    AlertDestination,
    AlertRule,
    OutboxMessage,
    SagaInstance,
)
from tests.factories import settle, start, worker
from tests.processes import spawn_worker, stop_all, wait_for
from tests.repairable import defined, make

# The worker claims by the database clock, which stands still inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-test-token-6f1c2a"


@pytest.fixture(autouse=True)
def token(settings):
    settings.SAGASCOPE_METRICS_TOKEN = TOKEN
    settings.SAGASCOPE_METRICS_ALLOW = ""


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from /metrics, read with the client's parser."""
    response = Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_the_sagas_did():
    for _ in range(2):
        start("ledger")
    start("ledger", {"fail_at": "b"})  # refused at b: compensates a
    settle(worker())
    with defined():
        make("failed_forward")  # notify fails twice (one retry), then waits for an operator
        make("failed_forward")
    start("ledger")  # left due: nobody runs it
    now = timezone.now()
    OutboxMessage.objects.create(
        kind="command",
        destination="payment",
        available_at=now,
        created_at=now - timedelta(seconds=60),
    )
    OutboxMessage.objects.create(
        kind="command", destination="payment", available_at=now, created_at=now, status="dead"
    )

    m = scrape()
    total = "sagascope_sagas_started_total"
    assert value(m, total, saga_type="ledger") == 4
    assert value(m, total, saga_type="repairable") == 2
    finished = "sagascope_sagas_finished_total"
    assert value(m, finished, saga_type="ledger", outcome="completed") == 2
    assert value(m, finished, saga_type="ledger", outcome="compensated") == 1
    assert value(m, finished, saga_type="repairable", outcome="failed") == 2
    attempts = "sagascope_step_attempts_total"
    assert (
        value(m, attempts, saga_type="ledger", step="a", phase="forward", outcome="succeeded") == 3
    )
    assert value(m, attempts, saga_type="ledger", step="b", phase="forward", outcome="failed") == 1
    assert (
        value(m, attempts, saga_type="ledger", step="a", phase="compensation", outcome="succeeded")
        == 1
    )
    notify = {"saga_type": "repairable", "step": "notify", "phase": "forward"}
    assert value(m, attempts, outcome="failed", **notify) == 4
    assert value(m, "sagascope_step_retries_total", **notify) == 2
    assert value(m, "sagascope_compensations_total", saga_type="ledger") == 1
    assert value(m, "sagascope_lease_losses_total") == 0
    a = {"saga_type": "ledger", "step": "a", "phase": "forward"}
    assert value(m, "sagascope_step_duration_seconds_count", **a) == 3
    assert value(m, "sagascope_step_duration_seconds_bucket", le="+Inf", **a) == 3
    assert value(m, "sagascope_step_duration_seconds_sum", **a) >= 0
    assert value(m, "sagascope_sagas_in_flight", status="failed") == 2
    assert value(m, "sagascope_sagas_in_flight", status="running") == 1
    assert value(m, "sagascope_due_backlog") == 1
    assert value(m, "sagascope_problems_open") == 1  # both failures have one cause
    assert value(m, "sagascope_problem_sagas_open") == 2
    assert value(m, "sagascope_outbox_pending", destination="payment") == 1
    assert value(m, "sagascope_outbox_oldest_age_seconds", destination="payment") >= 59
    assert value(m, "sagascope_outbox_dead_letters", destination="payment") == 1


@pytest.mark.postgres
def test_totals_are_exact_across_worker_processes(tmp_path):
    """Two worker processes share the sagas; any process's /metrics counts all of them."""
    sagas = [start("ledger") for _ in range(30)]
    workers = [spawn_worker(tmp_path, f"w{i}") for i in range(2)]
    try:
        wait_for(
            lambda: (
                SagaInstance.objects.filter(
                    id__in=[s.id for s in sagas], status="completed"
                ).count()
                == 30
            ),
            60,
            "30 sagas completed by two workers",
        )
        m = scrape()
    finally:
        stop_all(workers)
    assert value(m, "sagascope_sagas_started_total", saga_type="ledger") == 30
    assert value(m, "sagascope_sagas_finished_total", saga_type="ledger", outcome="completed") == 30
    d = {"saga_type": "ledger", "step": "d", "phase": "forward"}
    assert value(m, "sagascope_step_duration_seconds_count", **d) == 30
    assert value(m, "sagascope_processes", kind="worker", state="alive") == 2


@pytest.mark.parametrize(
    ("headers", "status", "says"),
    [
        ({}, 401, "Authorization: Bearer"),
        ({"HTTP_AUTHORIZATION": "Bearer wrong"}, 401, "token is wrong"),
        ({"HTTP_AUTHORIZATION": TOKEN}, 401, "must read 'Bearer <token>'"),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, 401, "must read 'Bearer <token>'"),
    ],
)
def test_metrics_need_the_token(headers, status, says):
    response = Client(**headers).get("/metrics")
    assert response.status_code == status
    assert says in response.content.decode()
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "sagascope_" not in response.content.decode()


def test_an_allowed_address_needs_no_token(settings):
    settings.SAGASCOPE_METRICS_TOKEN = ""
    settings.SAGASCOPE_METRICS_ALLOW = "10.0.0.0/8, bogus"
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="192.168.1.9").get("/metrics")
    assert refused.status_code == 403
    assert "SAGASCOPE_METRICS_ALLOW" in refused.content.decode()


def test_with_nothing_configured_metrics_are_closed_outside_debug(settings):
    settings.SAGASCOPE_METRICS_TOKEN = ""
    refused = Client().get("/metrics")  # from 127.0.0.1
    assert refused.status_code == 403
    assert "set SAGASCOPE_METRICS_TOKEN" in refused.content.decode()
    settings.DEBUG = True  # the demo: open to this machine only
    assert Client().get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403


def test_bad_requests_get_a_clear_error():
    api = Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    bad = api.get("/metrics", {"name[]": "x"})
    assert bad.status_code == 400 and "takes no parameters" in bad.content.decode()
    assert api.post("/metrics").status_code == 405


def test_alerts_fired_firing_and_deliveries_by_status():
    rule = AlertRule.objects.create(name="burst", kind="failure_burst", params={})
    hook = AlertDestination.objects.create(
        name="hook", channel="webhook", url="http://127.0.0.1:9/", secret="s3cr3t"
    )
    mail = AlertDestination.objects.create(name="mail", channel="email", emails="ops@example.com")
    now = timezone.now()
    fired = Alert.objects.create(rule=rule, key="type:a", title="t", fired_at=now, last_seen_at=now)
    Alert.objects.create(
        rule=rule, key="type:b", title="t", fired_at=now, last_seen_at=now, throttled=True
    )
    AlertDelivery.objects.create(
        alert=fired, destination=hook, status="failed", next_try_at=now, created_at=now
    )
    AlertDelivery.objects.create(
        alert=fired, destination=mail, status="delivered", next_try_at=now, created_at=now
    )
    samples = scrape()
    assert (
        value(samples, "sagascope_alerts_fired_total", kind="failure_burst", throttled="false") == 1
    )
    assert (
        value(samples, "sagascope_alerts_fired_total", kind="failure_burst", throttled="true") == 1
    )
    assert value(samples, "sagascope_alerts_firing", kind="failure_burst") == 1
    assert value(samples, "sagascope_alert_deliveries", status="failed") == 1
    assert value(samples, "sagascope_alert_deliveries", status="delivered") == 1
    assert value(samples, "sagascope_alert_deliveries", status="pending") == 0
