"""The detail page's timeline when an operator comes back to a saga long after it stopped:
the idle minutes are a marked break in the axis, not a linear stretch that squeezes the
first attempts into slivers; every bar keeps a readable width and every label stays inside
the timeline's box. In Chromium, against daphne and a real worker."""

from __future__ import annotations

import re

import pytest

from .pages import LONG, age_history, button, live, wait_for_status

expect = pytest.importorskip("playwright.sync_api").expect

IDLE_MINUTES = 12
MIN_BAR_PX = 24  # "#1" and a click target; the page's minimum is 1.75rem (28 px)

# Every bar, marker and shown axis label, as rectangles relative to the timeline's box.
GEOMETRY = """() => {
  const box = document.getElementById("timeline");
  const outer = box.getBoundingClientRect();
  const rect = (el) => { const r = el.getBoundingClientRect();
    return { what: el.className + " " + el.textContent, left: r.left - outer.left,
             right: outer.right - r.right, width: r.width,
             clipped: el.scrollWidth > el.clientWidth + 1 }; };
  const shown = (el) => !el.hidden && el.getClientRects().length > 0;
  return {
    scrolls: box.scrollWidth > box.clientWidth,
    bars: [...box.querySelectorAll(".bar")].map(rect),
    markers: [...box.querySelectorAll(".marker")].map(rect),
    labels: [...box.querySelectorAll(".axis .tick, .axis .gap-label")].filter(shown).map(rect),
  };
}"""


def test_an_idle_gap_is_a_break_and_bars_and_labels_stay_readable(page, stack):
    repaired = stack.gate_dir() / "refund-service-fixed"
    body = {"fail_at": "ship", "flaky": "charge", "stuck": "charge", "repair": str(repaired)}
    saga = stack.start_saga(body, "idle-gap")
    wait_for_status(stack, saga["id"], "failed")
    age_history(stack, saga["id"], IDLE_MINUTES)  # the operator comes back 12 minutes later
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    live(page)
    repaired.touch()
    button(page, "retry").click()
    page.fill("#dialog-reason", "refund service is back")
    page.locator("#dialog-confirm").click()
    expect(page.locator("#saga-status")).to_have_text("compensated", timeout=LONG)
    expect(page.locator('.operator-row .marker[data-action="retry"]')).to_have_count(1)

    timeline = page.locator("#timeline")
    # The long pause is a break that says how long; a worker slow to pick the retry up
    # may add a short one, never a break under a second.
    breaks = timeline.locator(".axis .gap-label")
    expect(breaks.first).to_be_attached()
    idle = [int(ms) for ms in breaks.evaluate_all("els => els.map(e => e.dataset.idleMs)")]
    assert all(ms >= 1000 for ms in idle), idle
    long = [ms for ms in idle if ms > 60_000]
    assert len(long) == 1 and abs(long[0] - IDLE_MINUTES * 60_000) < 60_000, idle
    gap = timeline.locator(f'.axis .gap-label[data-idle-ms="{long[0]}"]')
    expect(gap).to_have_text(f"{IDLE_MINUTES} min")
    expect(gap).to_have_attribute("title", re.compile(r"^nothing happened for 1[12] min \d+ s$"))
    assert timeline.locator(".row:not(.axis) .gap").count() >= 5  # drawn across every track

    shape = page.evaluate(GEOMETRY)
    assert not shape["scrolls"], "the timeline scrolls sideways"
    assert len(shape["bars"]) >= 8, shape["bars"]
    for bar in shape["bars"]:
        assert bar["width"] >= MIN_BAR_PX, bar
    for item in shape["bars"] + shape["markers"] + shape["labels"]:
        assert item["left"] >= 0 and item["right"] >= 0, item  # inside the box
    for item in shape["markers"] + shape["labels"]:
        assert not item["clipped"], item  # and whole
    assert len(shape["labels"]) >= 3, shape["labels"]  # the start, the break, a later time
    # The first attempts are left of the break, the retried compensation right of it.
    gap_box = gap.bounding_box()
    first = page.locator('.lane.forward .bar[data-step="reserve"]').bounding_box()
    retried = page.locator('.lane.compensation .bar[data-step="charge"]').last.bounding_box()
    assert first["x"] + first["width"] <= gap_box["x"] + 1 < retried["x"]
