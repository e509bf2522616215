"""/metrics: who may read it, and what it says.

Every figure is read from the database at scrape time (a prometheus_client Collector), so
any web process answers for all the workers and web processes at once, with no
multiprocess files: totals from MetricCounter (written with the transitions they count,
engine/tally.py), gauges from a few aggregate queries served by partial indexes.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from sagas import conf
from sagas.engine.leases import database_now
from sagas.engine.tally import DURATION_BUCKETS, INF
from sagas.exceptions import MetricsForbidden, MetricsUnauthenticated
from sagas.models import Alert, AlertDelivery, MetricCounter

from . import operations

PREFIX = "sagascope"
LOOPBACK = ("127.0.0.1", "::1")
STEP_LABELS = ["saga_type", "step", "phase"]


def authorize(authorization: str, address: str) -> None:
    """Let a scrape through, or raise MetricsUnauthenticated (401) / MetricsForbidden (403).

    A configured token admits anyone who sends it; an allow-listed address needs none.
    With neither configured, only DEBUG opens /metrics, and to this machine only."""
    token, allowed = conf.metrics_token(), conf.metrics_allow()
    if authorization:
        scheme, _, sent = authorization.partition(" ")
        if scheme.lower() != "bearer" or not sent.strip():
            raise MetricsUnauthenticated("the Authorization header must read 'Bearer <token>'")
        if token and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return
        raise MetricsUnauthenticated("the metrics token is wrong")
    if allowed and address_allowed(address, allowed):
        return
    if not token and not allowed and settings.DEBUG and address in LOOPBACK:
        return
    if token:
        raise MetricsUnauthenticated()
    if not allowed:
        raise MetricsForbidden(
            "/metrics is closed: set SAGASCOPE_METRICS_TOKEN (or SAGASCOPE_METRICS_ALLOW) "
            "to open it to your scraper"
        )
    raise MetricsForbidden()


def address_allowed(address: str, allowed: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a bad entry is reported by the system check (sagas.W004)
    return False


def alert_families() -> list[Metric]:
    """Alerts fired (sent, or throttled: recorded only) by rule kind, those firing now, and
    deliveries by status: a `failed` one gave up."""
    fired = CounterMetricFamily(
        f"{PREFIX}_alerts_fired",
        "Alerts fired, by rule kind; throttled ones were recorded, not sent.",
        labels=["kind", "throttled"],
    )
    rows = Alert.objects.order_by().values_list("rule__kind", "throttled").annotate(n=Count("*"))
    for kind, throttled, n in rows:
        fired.add_metric([kind or "test", str(throttled).lower()], n)
    firing = GaugeMetricFamily(
        f"{PREFIX}_alerts_firing",
        "Alerts firing now (not resolved), by rule kind.",
        labels=["kind"],
    )
    now_firing = Alert.objects.filter(state=Alert.State.FIRED, throttled=False).order_by()
    for kind, n in now_firing.values_list("rule__kind").annotate(n=Count("*")):
        firing.add_metric([kind or "test"], n)
    deliveries = GaugeMetricFamily(
        f"{PREFIX}_alert_deliveries",
        "Alert deliveries by status: pending (retrying), delivered, failed (gave up).",
        labels=["status"],
    )
    counted = dict(AlertDelivery.objects.order_by().values_list("status").annotate(n=Count("*")))
    for status in AlertDelivery.Status.values:
        deliveries.add_metric([status], counted.get(status, 0))
    return [fired, firing, deliveries]


class SagaCollector(Collector):
    """Everything /metrics says, read from the database when scraped."""

    def collect(self) -> Iterator[Metric]:
        now = database_now()
        yield from self._totals()
        in_flight = GaugeMetricFamily(
            f"{PREFIX}_sagas_in_flight",
            "Sagas not finished, by status (failed ones wait for an operator).",
            labels=["status"],
        )
        for status, n in operations.unfinished_by_status().items():
            in_flight.add_metric([status], n)
        yield in_flight
        backlog = operations.due_backlog(now)
        yield GaugeMetricFamily(
            f"{PREFIX}_due_backlog", "Sagas due now that no worker holds.", value=backlog.due
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_due_backlog_oldest_age_seconds",
            "How long the longest-waiting due saga has been due (0 when none is).",
            value=backlog.oldest_age_seconds or 0.0,
        )
        yield from self._outbox(now)
        groups, sagas = operations.problems_open()
        yield GaugeMetricFamily(f"{PREFIX}_problems_open", "Failure groups open.", value=groups)
        yield GaugeMetricFamily(
            f"{PREFIX}_problem_sagas_open",
            "Sagas in open failure groups that still need an operator.",
            value=sagas,
        )
        yield from self._processes(now)
        yield from alert_families()

    def _totals(self) -> Iterator[Metric]:
        rows = (
            MetricCounter.objects.order_by()
            .values_list("name", "saga_type", "step", "phase", "label")
            .annotate(total=Sum("value"))
        )
        by_name: dict[str, list[tuple[str, str, str, str, float]]] = defaultdict(list)
        for name, saga_type, step, phase, label, total in rows:
            by_name[name].append((saga_type, step, phase, label, total))
        started = CounterMetricFamily(
            f"{PREFIX}_sagas_started", "Sagas started, by type.", labels=["saga_type"]
        )
        for saga_type, _, _, _, total in by_name["started"]:
            started.add_metric([saga_type], total)
        finished = CounterMetricFamily(
            f"{PREFIX}_sagas_finished",
            "Sagas that ended, by type and outcome (failed: stopped for an operator).",
            labels=["saga_type", "outcome"],
        )
        for saga_type, _, _, outcome, total in by_name["finished"]:
            finished.add_metric([saga_type, outcome], total)
        attempts = CounterMetricFamily(
            f"{PREFIX}_step_attempts",
            "Step attempts finished, by outcome.",
            labels=[*STEP_LABELS, "outcome"],
        )
        timeouts = CounterMetricFamily(
            f"{PREFIX}_step_timeouts", "Step attempts that timed out.", labels=STEP_LABELS
        )
        for saga_type, step, phase, outcome, total in by_name["attempts"]:
            attempts.add_metric([saga_type, step, phase, outcome], total)
            if outcome == "timed_out":
                timeouts.add_metric([saga_type, step, phase], total)
        retries = CounterMetricFamily(
            f"{PREFIX}_step_retries",
            "Step attempts after the first (retries, automatic or by hand).",
            labels=STEP_LABELS,
        )
        for saga_type, step, phase, _, total in by_name["retries"]:
            retries.add_metric([saga_type, step, phase], total)
        compensations = CounterMetricFamily(
            f"{PREFIX}_compensations",
            "Sagas that began compensating, by type.",
            labels=["saga_type"],
        )
        for saga_type, _, _, _, total in by_name["compensations"]:
            compensations.add_metric([saga_type], total)
        lost = sum(row[-1] for row in by_name["lease_losses"])
        yield from (started, finished, attempts, timeouts, retries, compensations)
        yield CounterMetricFamily(
            f"{PREFIX}_lease_losses",
            "Sagas a worker found taken from it (lease expired and claimed elsewhere).",
            value=lost,
        )
        yield _durations(by_name["duration"], by_name["duration_sum"])

    def _outbox(self, now: Any) -> Iterator[Metric]:
        labels = ["destination"]
        pending = GaugeMetricFamily(
            f"{PREFIX}_outbox_pending", "Messages not yet sent.", labels=labels
        )
        oldest = GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_age_seconds",
            "Age of the oldest message not yet sent.",
            labels=labels,
        )
        dead = GaugeMetricFamily(
            f"{PREFIX}_outbox_dead_letters",
            "Messages set aside, never to be delivered.",
            labels=labels,
        )
        for row in operations.outbox_by_destination(now):
            pending.add_metric([row["destination"]], row["pending"])
            oldest.add_metric([row["destination"]], row["oldest_age_seconds"] or 0.0)
            dead.add_metric([row["destination"]], row["dead"])
        yield from (pending, oldest, dead)

    def _processes(self, now: Any) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            f"{PREFIX}_processes",
            "Worker, relay and participant processes with a heartbeat row, alive or silent.",
            labels=["kind", "state"],
        )
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for p in operations.processes(now):
            counts[(p["kind"], "alive" if p["alive"] else "silent")] += 1
        for (kind, state), n in sorted(counts.items()):
            family.add_metric([kind, state], n)
        yield family


def _durations(
    buckets: list[tuple[str, str, str, str, float]], sums: list[tuple[str, str, str, str, float]]
) -> Metric:
    family = HistogramMetricFamily(
        f"{PREFIX}_step_duration_seconds",
        "Step attempt durations, by type, step and phase.",
        labels=STEP_LABELS,
    )
    counts: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for saga_type, step, phase, label, total in buckets:
        counts[(saga_type, step, phase)][label] = total
    seconds = {(t, s, p): total for t, s, p, _, total in sums}
    for key in sorted(counts):
        cumulative, running = [], 0.0
        for bound in DURATION_BUCKETS:
            running += counts[key].get(repr(bound), 0.0)
            cumulative.append((repr(bound), running))
        cumulative.append((INF, running + counts[key].get(INF, 0.0)))
        family.add_metric(list(key), cumulative, seconds.get(key, 0.0))
    return family


def registry() -> CollectorRegistry:
    """A registry of our collector alone: no process metrics of whichever web process
    happens to answer, which would read as the whole system's."""
    own = CollectorRegistry(auto_describe=False)
    own.register(SagaCollector())
    return own
