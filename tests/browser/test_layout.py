"""What fits where: the detail page's steps table at 1,400 px (an idempotency key stays in
its cell, and copying it copies all of it), in Chromium."""

from __future__ import annotations

import pytest

from .pages import LONG

expect = pytest.importorskip("playwright.sync_api").expect

# For each key: its full text (title), what a selection of it copies, and how its box and
# its text sit in the table cell that holds it.
KEY_BOXES = """() => [...document.querySelectorAll("table.steps tbody td:nth-child(6) code")]
.map((code) => {
  const cell = code.closest("td").getBoundingClientRect();
  const box = code.getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(code);
  const text = range.getBoundingClientRect();
  getSelection().removeAllRanges();
  getSelection().addRange(range);
  const copied = getSelection().toString();
  getSelection().removeAllRanges();
  return { title: code.title, copied, overflow: code.scrollWidth - code.clientWidth,
    box: [box.left - cell.left, cell.right - box.right],
    text: [text.left - cell.left, cell.right - text.right] };
})"""


def test_idempotency_keys_stay_in_their_cell_at_1400_px(page, stack):
    # A retried step and two compensations: the longest keys a shipment has.
    saga = stack.start_saga({"fail_at": "ship", "flaky": "charge"}, "keys-fit")
    page.goto(f"{stack.url}/sagas/{saga['id']}/")
    expect(page.locator("#saga-status")).to_have_text("compensated", timeout=LONG)
    assert page.viewport_size["width"] == 1400
    keys = page.evaluate(KEY_BOXES)
    full = {k["title"] for k in keys}
    assert f"{saga['id']}:charge:compensation:1" in full and len(keys) >= 5, keys
    for key in keys:
        assert key["overflow"] <= 0, key  # the text fits its own box...
        assert min(key["box"] + key["text"]) >= 0, key  # ...and both fit the cell
        assert key["copied"] == key["title"], key  # the saga id is clipped, not dropped
