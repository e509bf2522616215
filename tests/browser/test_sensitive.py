"""Sensitive fields in Debian's Chromium: the vault saga's card number and e-mail are masked
on its page, in the edit dialog too; an operator with view_sensitive presses "Reveal
sensitive fields", sees them, and the audit trail names who revealed them."""

from __future__ import annotations

import pytest

from .pages import LONG, PASSWORD, page_as

expect = pytest.importorskip("playwright.sync_api").expect

CARD = "4111111111111111"
MARKER = "•••• (sensitive)"


def start_vault(stack, correlation_id: str) -> str:
    out = stack.manage(
        "shell",
        "-c",
        "from sagas.services.start import start_saga\n"
        "saga, _ = start_saga('vault', {'card_number': '4111111111111111', "
        "'customer': {'email': 'ada@example.org', 'name': 'Ada'}, 'amount': 10}, "
        f"correlation_id={correlation_id!r})\n"
        "print(saga.id)\n",
    )
    return out.strip().splitlines()[-1]


def grant(stack, username: str, *codenames: str) -> None:
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Permission, User\n"
        f"user = User.objects.create_user({username!r}, password={PASSWORD!r}, is_staff=True)\n"
        f"user.user_permissions.add(*Permission.objects.filter(codename__in={list(codenames)!r}))\n",
    )


def test_masked_until_a_permitted_operator_reveals_and_the_reveal_is_audited(
    browser, stack, tmp_path
):
    saga_id = start_vault(stack, "vault-browser")
    grant(stack, "revealer", "view_sensitive")
    context, page, errors = page_as(browser, stack, "revealer")
    try:
        page.goto(f"{stack.url}/sagas/{saga_id}/")
        expect(page.locator("#saga-status")).to_have_text("completed", timeout=LONG)
        expect(page.locator("#saga-input")).to_contain_text(MARKER)
        expect(page.locator("#sensitive-masked")).to_contain_text("input.card_number")
        assert CARD not in page.content()
        page.screenshot(path=str(tmp_path / "masked.png"), full_page=True)
        page.locator("#reveal-button").click()
        expect(page.locator("#sensitive-revealed")).to_be_visible(timeout=LONG)
        expect(page.locator("#saga-input")).to_contain_text(CARD)
        expect(page.locator("#audit-rows")).to_contain_text("revealer")
        expect(page.locator("#audit-rows")).to_contain_text("Revealed sensitive fields")
        page.screenshot(path=str(tmp_path / "revealed.png"), full_page=True)
        assert not errors, errors
    finally:
        context.close()
