"""The Workers page in a real browser: a worker process shows alive with its host and pid,
and turns red within its lease time of being killed with SIGKILL."""

from __future__ import annotations

import signal
import sys

import pytest

from .pages import LONG

expect = pytest.importorskip("playwright.sync_api").expect

LEASE = 3  # seconds: the victim's lease, and so how long its silence may last before red


def test_a_killed_worker_turns_red(page, stack):
    victim = stack.spawn(
        "victim",
        [sys.executable, "manage.py", "run_worker", "--id", "victim", "--lease", str(LEASE)],
    )
    try:
        page.goto(f"{stack.url}/workers/")
        expect(page.locator("nav a[aria-current=page]")).to_have_text("Workers")
        row = page.locator('tr[data-process="victim"]')
        expect(row).to_have_attribute("data-alive", "true", timeout=LONG)
        expect(row).to_contain_text(str(victim.pid))
        expect(row.locator(".badge")).to_have_text("alive")
        stack_worker = page.locator('tr[data-process="browser"]')
        expect(stack_worker).to_have_attribute("data-alive", "true")

        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        # Red after LEASE seconds of silence; the page polls every 2 s. The bound is loose
        # for a loaded machine; the row's own text says how long it has been silent.
        expect(row).to_have_attribute("data-alive", "false", timeout=LONG)
        expect(row).to_have_class("dead")
        expect(row.locator(".badge")).to_contain_text("silent for")
        expect(stack_worker).to_have_attribute("data-alive", "true")
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
