"""The detail page's trace link: to Jaeger when traces are exported, and where they are not,
a sentence in its place that says how to export them (a link to a Jaeger that is not
running would only answer "connection refused")."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sagas.models import SagaInstance
from tests.factories import start
from tests.pages import embedded

pytestmark = pytest.mark.django_db

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
EXPORTER_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@pytest.fixture
def traced_saga(monkeypatch):
    saga = start("ledger", {})
    SagaInstance.objects.filter(id=saga.id).update(trace_id=TRACE_ID)
    # After the saga's spans: only the page reads these from here on.
    for name in EXPORTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return saga


def detail(client, saga) -> str:
    return client.get(reverse("saga-detail", args=[saga.id])).content.decode()


def test_without_an_exporter_the_page_says_how_to_export_traces(staff_client, traced_saga):
    html = detail(staff_client, traced_saga)
    assert 'id="trace-link"' not in html and 'href="http://localhost:16686' not in html
    assert (
        '<span id="trace-note" class="muted">(traces are not exported: set '
        "OTEL_EXPORTER_OTLP_ENDPOINT, or run the docker-compose stack with Jaeger)</span>"
    ) in html
    assert f"<code>{TRACE_ID}</code>" in html  # the id is still there to search for
    data = embedded(staff_client.get(reverse("saga-detail", args=[traced_saga.id])), "saga-data")
    assert data["trace_url"] is None and data["trace_id"] == TRACE_ID


@pytest.mark.parametrize(
    "variables",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
    ],
)
def test_with_an_exporter_the_page_links_the_trace_in_jaeger(
    staff_client, traced_saga, settings, monkeypatch, variables
):
    settings.JAEGER_UI_URL = "http://jaeger.example:16686/"
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    html = detail(staff_client, traced_saga)
    assert f'href="http://jaeger.example:16686/trace/{TRACE_ID}"' in html
    assert "trace-note" not in html


@pytest.mark.parametrize(
    "variables",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"},
    ],
)
def test_export_turned_off_counts_as_not_exported(
    staff_client, traced_saga, monkeypatch, variables
):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    html = detail(staff_client, traced_saga)
    assert 'id="trace-link"' not in html and 'id="trace-note"' in html
