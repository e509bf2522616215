"""One trace per saga, across a worker and a participant process, received over real
OTLP/HTTP and decoded from protobuf."""

from __future__ import annotations

import pytest

from sagas.models import SagaInstance
from sagas.services.start import start_saga
from sagas.statuses import TERMINAL_STATUSES
from tests.processes import spawn, spawn_worker, stop_all, wait_for

from .otlp import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def test_a_saga_is_one_trace_from_the_caller_through_the_participant(tmp_path, monkeypatch):
    receiver = Receiver()
    for key, value in {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }.items():
        monkeypatch.setenv(key, value)
    processes = [
        spawn_worker(tmp_path, "traced-worker"),
        spawn(["run_participant", "payment", "--poll", "0.1"], tmp_path / "payment.log"),
    ]
    try:
        ok, _ = start_saga(
            "traced",
            {"amount": 10},
            correlation_id="order-ok",
            trace_parent=(CALLER_TRACE, CALLER_SPAN),
        )
        declined, _ = start_saga("traced", {"amount": 5000}, correlation_id="order-declined")
        wait_for(
            lambda: SagaInstance.objects.filter(status__in=TERMINAL_STATUSES).count() == 2,
            60,
            "both sagas to end",
        )
    finally:
        codes = stop_all(processes)  # SIGTERM: providers flush their batches
    wait_for(
        lambda: sum(s["name"].startswith("saga ") for s in receiver.spans) == 2,
        20,
        "both saga spans to be exported",
    )
    receiver.close()
    assert codes == [0, 0]
    ok.refresh_from_db()
    declined.refresh_from_db()

    spans = [s for s in receiver.spans if s["trace_id"] == CALLER_TRACE]
    by_name = {s["name"]: s for s in spans}
    assert ok.trace_id == CALLER_TRACE
    assert {"saga traced", "prepare", "charge", "send payment", "process payment"} <= set(by_name)
    saga = by_name["saga traced"]
    assert saga["parent_span_id"] == CALLER_SPAN and saga["span_id"] == ok.span_id
    assert saga["service"] == "worker" and saga["status"] != 2
    for step in ("prepare", "charge"):
        assert by_name[step]["parent_span_id"] == saga["span_id"]
        assert by_name[step]["attributes"]["saga.step"] == step
    producer, consumer = by_name["send payment"], by_name["process payment"]
    assert (
        producer["kind"] == "PRODUCER"
        and producer["parent_span_id"] == by_name["charge"]["span_id"]
    )
    assert consumer["kind"] == "CONSUMER" and consumer["parent_span_id"] == producer["span_id"]
    assert consumer["service"] == "payment"
    for span in (producer, consumer):
        attributes = span["attributes"]
        assert attributes["messaging.message.conversation_id"] == "order-ok"
        assert attributes["messaging.destination.name"] == "payment"
        assert attributes["messaging.system"] == "sagascope"
        assert attributes["saga.id"] == str(ok.id) and attributes["saga.type"] == "traced"
        assert attributes["saga.phase"] == "forward" and attributes["saga.attempt"] == 1
    assert saga["start"] < by_name["prepare"]["start"] <= by_name["charge"]["end"] <= saga["end"]

    # the declined saga: its own trace, an error on the failed attempt and its consumer
    other = [s for s in receiver.spans if s["trace_id"] == declined.trace_id]
    failed_charge = next(s for s in other if s["name"] == "charge")
    assert failed_charge["status"] == 2 and "exception" in failed_charge["events"]
    assert next(s for s in other if s["name"] == "process payment")["status"] == 2
    assert next(s for s in other if s["name"] == "saga traced")["status"] == 2
    assert {s["trace_id"] for s in receiver.spans} == {CALLER_TRACE, declined.trace_id}
