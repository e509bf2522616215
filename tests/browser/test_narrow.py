"""The dashboard on a 375 px phone, in Chromium: no page is wider than the screen (nothing
scrolls sideways), and every link of the navigation is on screen and works."""

from __future__ import annotations

import pytest

from .pages import live, page_as, wait_for_status

expect = pytest.importorskip("playwright.sync_api").expect

PHONE = {"width": 375, "height": 800}
NAV = ["Overview", "Sagas", "Problems", "Bulk operations", "Outbox", "Workers", "Alerts", "Admin"]


def test_a_375_px_screen_scrolls_only_down(browser, stack):
    saga = stack.start_saga({"fail_at": "ship", "flaky": "charge"}, "narrow-screen")
    wait_for_status(stack, saga["id"], "compensated")
    context, page, errors = page_as(browser, stack, "operator", viewport=PHONE)
    try:
        for path in ["/", "/sagas/", f"/sagas/{saga['id']}/"]:
            page.goto(f"{stack.url}{path}")
            live(page)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide"
            for name in NAV:
                link = page.locator("header nav").get_by_role("link", name=name, exact=True)
                expect(link).to_be_visible()
                box = link.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (path, name)
            for control in ("#time-zone", "form.logout button"):
                box = page.locator(control).bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], control
        # The list's rows are cards: the saga, its status and its correlation id in view.
        page.goto(f"{stack.url}/sagas/?q=narrow-screen")
        row = page.locator(f'#saga-rows tr[data-id="{saga["id"]}"]')
        for cell in (row.locator("a"), row.locator(".badge"), row.get_by_text("narrow-screen")):
            expect(cell).to_be_visible()
            box = cell.bounding_box()
            assert box["x"] + box["width"] <= PHONE["width"]
        page.locator("header nav").get_by_role("link", name="Admin", exact=True).click()
        expect(page).to_have_url(f"{stack.url}/admin/")
    finally:
        context.close()
    assert not errors, errors
