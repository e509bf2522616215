"""What the browser tests do on a page and to the stack behind it: wait for the live
connection, find timeline bars and action buttons, log in as someone, add users and outbox
rows, count sagas in the stack's database file."""

from __future__ import annotations

import sqlite3
import time
import uuid

import pytest

expect = pytest.importorskip("playwright.sync_api").expect

PASSWORD = "browser-test-password-" + uuid.uuid4().hex[:8]
LONG = 60_000  # ms a change may take to show on a loaded machine: a bound, not a measurement


def live(page):
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=LONG)


def bars(page, lane, step, status=None):
    selector = f'.lane.{lane} .bar[data-step="{step}"]'
    if status:
        selector += f'[data-status="{status}"]'
    return page.locator(selector)


def mark_loaded(page):
    page.evaluate("window.__loadedOnce = true")


def never_reloaded(page):
    assert page.evaluate("window.__loadedOnce === true"), "the page was reloaded"


def add_outbox_messages(stack) -> None:
    # Nothing in this branch writes the outbox yet (remote steps do): rows made by hand.
    stack.manage(
        "shell",
        "-c",
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from sagas.models import OutboxMessage, SagaInstance\n"
        "saga = SagaInstance.objects.order_by('created_at').first()\n"
        "now = timezone.now()\n"
        "for n, (dest, kind) in enumerate([('payment.charge', 'command'), "
        "('payment.charge', 'command'), ('inventory.reserve', 'command')]):\n"
        "    OutboxMessage.objects.create(saga=saga, kind=kind, destination=dest, "
        "headers={'traceparent': '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', "
        "'tracestate': 'sagascope=1', 'baggage': f'saga.id={saga.id}', "
        "'correlation_id': saga.correlation_id, 'saga_id': str(saga.id), 'step': 'charge', "
        "'idempotency_key': f'{saga.id}:charge:forward:1'}, body={'amount': 25}, "
        "attempts=n, last_error='connection refused' if n else '', "
        "created_at=now - timedelta(seconds=40 * (n + 1)), available_at=now)\n",
    )


def button(page, action: str):
    return page.locator(f'#action-buttons button[data-action="{action}"]')


def add_user(stack, username: str, superuser: bool) -> None:
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        f"User.objects.create_user({username!r}, password={PASSWORD!r}, is_staff=True, "
        f"is_superuser={superuser})\n",
    )


def page_as(browser, stack, username: str, **options):
    """A page logged in as `username`, in a browser context made with `options` (Playwright's
    new_context: viewport, timezone_id, ...)."""
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 900}, **options})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{stack.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/")
    return context, page, errors


def start_payouts(stack, prefix: str, n: int) -> None:
    """`n` payouts (which complete at once), started as a service would, in one go."""
    stack.manage(
        "shell",
        "-c",
        "from sagas.services.start import start_saga\n"
        f"for n in range({n}):\n"
        f"    start_saga('payout', {{}}, correlation_id=f'{prefix}-{{n:03d}}')\n",
    )


def count_sagas(stack, saga_type: str, status: str) -> int:
    with sqlite3.connect(stack.db_file(), timeout=30) as db:
        (n,) = db.execute(
            "SELECT count(*) FROM sagas_sagainstance WHERE saga_type = ? AND status = ?",
            [saga_type, status],
        ).fetchone()
    return n


def wait_for_sagas(stack, saga_type: str, status: str, n: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while count_sagas(stack, saga_type, status) < n:
        assert time.monotonic() < deadline, f"fewer than {n} {saga_type} sagas are {status}"
        time.sleep(0.25)


def age_history(stack, saga_id: str, minutes: float) -> None:
    """Move everything the saga has done so far `minutes` into the past: as if the operator
    arrived that long after it stopped."""
    stack.manage(
        "shell",
        "-c",
        "from datetime import timedelta\n"
        "from django.db.models import F\n"
        "from sagas.models import SagaEvent, SagaInstance, StepAttempt\n"
        f"shift = timedelta(minutes={minutes!r})\n"
        f"saga = SagaInstance.objects.get(id={saga_id!r})\n"
        "StepAttempt.objects.filter(saga=saga).update(started_at=F('started_at') - shift, "
        "finished_at=F('finished_at') - shift, deadline=F('deadline') - shift)\n"
        "SagaEvent.objects.filter(saga=saga).update(created_at=F('created_at') - shift)\n"
        "SagaInstance.objects.filter(id=saga.id).update(created_at=F('created_at') - shift)\n",
    )


def wait_for_status(stack, saga_id: str, status: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while stack.saga(saga_id)["status"] != status:
        assert time.monotonic() < deadline, f"saga {saga_id} never became {status}"
        time.sleep(0.2)
