"""The worker's console line: what it did in the period, and how many sagas ended in it by
outcome across every worker, from the database. A saga that ends on a participant's reply
counts too (the worker used to count only the sagas its own commit ended: 237 printed
against about 890 that ended)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from sagas.models import SagaInstance
from sagas.runtime.report import Figures, line
from sagas.statuses import ACTIVE_STATUSES
from tests.factories import serve_participants, start, worker

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = {"sku": "REPORT", "qty": 1, "amount": 20, "country": "FR"}


def test_the_line_says_what_the_worker_did_and_what_ended():
    ended = {"completed": 9, "compensated": 2, "failed": 1}
    assert line("vm:1:ab12cd", 10.2, Figures(44, 15, 0), ended) == (
        "worker vm:1:ab12cd, last 10s: 44 transitions, 15 attempts, 0 leases lost; "
        "all workers: 12 sagas ended (9 completed, 2 compensated, 1 failed)"
    )
    one = {"completed": 1}
    assert line("w", 3, Figures(), one).endswith(
        "1 saga ended (1 completed, 0 compensated, 0 failed)"
    )
    assert (
        line("w", 3, Figures(), None)
        == "worker w, last 3s: 0 transitions, 0 attempts, 0 leases lost"
    )


def test_sagas_that_end_on_a_participants_reply_are_counted(caplog):
    start("order", GOOD)
    start("order", GOOD)
    start("order", {**GOOD, "amount": 5000})  # declined: compensated
    w = worker()
    runs = threading.Thread(target=w.run)
    caplog.set_level(logging.INFO, logger="sagas.worker")
    runs.start()
    try:
        for _ in range(2000):
            serve_participants()
            if not SagaInstance.objects.filter(status__in=ACTIVE_STATUSES).exists():
                break
            time.sleep(0.02)
    finally:
        w.stop()
        runs.join(20)
    reports = [r.getMessage() for r in caplog.records if "all workers:" in r.getMessage()]
    assert reports, caplog.text
    # The completed ones ended on the email service's reply, which the worker applied as a
    # reply, not as a commit of its own: all three are counted.
    assert reports[-1].endswith("3 sagas ended (2 completed, 1 compensated, 0 failed)"), reports
