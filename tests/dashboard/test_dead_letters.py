"""The dead letters: the outbox's count links to them; each says why it was set aside,
which saga and attempt it was about, and when; what a dead letter is and what to do."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sagas.messaging import outbox
from sagas.models import OutboxMessage
from tests.factories import start
from tests.messages import command
from tests.pages import embedded

pytestmark = pytest.mark.django_db


def expired_command(saga, step: str = "charge_payment") -> OutboxMessage:
    """A command whose attempt timed out before any relay took it: buried as expired."""
    now = timezone.now()
    message = OutboxMessage.objects.create(
        saga=saga,
        kind="command",
        destination="payment",
        headers={"saga_id": str(saga.id), "step": step, "phase": "forward", "attempt": 2},
        created_at=now - timedelta(seconds=30),
        available_at=now - timedelta(seconds=30),
        deadline=now - timedelta(seconds=1),
    )
    assert outbox.bury_expired(["payment"]) == 1
    message.refresh_from_db()
    return message


def refused_reply(saga_id: str, reason: str) -> OutboxMessage:
    """A participant's reply that the workers could not apply, set aside as they do."""
    envelope = command(saga_id=saga_id, step="reserve_inventory", attempt=1)
    assert outbox.enqueue_reply(envelope, "inventory")
    message = OutboxMessage.objects.get(message_id=envelope["headers"]["message_id"])
    outbox.bury([message], reason)
    return message


def test_the_outbox_count_links_to_every_dead_letter_with_its_reason_and_saga(staff_client):
    saga = start("ledger", {})
    expired_command(saga)
    refused_reply(str(saga.id), "could not be applied: KeyError: 'sku'")
    ghost = str(uuid.uuid4())
    refused_reply(ghost, "could not be applied: no such saga")
    outbox.dead_reply("<html>502 Bad Gateway</html>", "shipping", "shipping's answer refused")

    page = staff_client.get(reverse("outbox"))
    html = page.content.decode()
    assert re.search(r'<a id="dead" href="/outbox/dead/"', html)
    assert "A dead letter is a message set aside for good" in html
    assert "What to do:" in html
    data = embedded(page, "outbox-data")
    assert data["dead"] == 4
    # the latest ones, newest first: a reply's saga comes from its headers
    assert [d["reason"][:9] for d in data["dead_letters"]] == [
        "shipping'",
        "could not",
        "could not",
        "expired: ",
    ]
    assert data["dead_letters"][2]["saga"] == str(saga.id)
    assert data["dead_letters"][1]["saga"] is None  # no such saga: nothing to link to
    assert data["dead_letters"][1]["saga_named"] == ghost

    listing = staff_client.get(reverse("dead-letters"))
    assert listing.status_code == 200
    rows = re.findall(r"<tr data-message=.*?</tr>", listing.content.decode(), re.S)
    assert len(rows) == 4
    unreadable, ghost_row, reply, expired = rows
    assert "shipping → orchestrator" in unreadable and "—" in unreadable
    assert "502 Bad Gateway" not in unreadable  # what it said stays out of the list
    assert f"{ghost[:8]}</code> (unknown)" in ghost_row
    detail = reverse("saga-detail", args=[saga.id])
    assert f'href="{detail}"' in reply and "reserve_inventory · forward · #1" in reply
    assert "inventory → orchestrator" in reply and "KeyError: &#x27;sku&#x27;" in reply
    assert f'href="{detail}"' in expired and "charge_payment · forward · #2" in expired
    assert "orchestrator → payment" in expired and "its attempt timed out" in expired
    assert "traceparent" in reply  # the headers, one click away


def test_dead_letters_come_a_page_at_a_time_and_by_destination(staff_client):
    saga = start("ledger", {})
    now = timezone.now()
    for n in range(55):
        OutboxMessage.objects.create(
            saga=saga,
            kind="command",
            destination="payment" if n % 5 else "email",
            status="dead",
            last_error=f"reason {n}",
            created_at=now,
            available_at=now,
            sent_at=now,
        )
    first = staff_client.get(reverse("dead-letters")).content.decode()
    assert first.count("<tr data-message=") == 50
    assert "reason 54<" in first and "reason 4<" not in first
    assert 'Dead letters <span class="count">(55)' in first
    older = re.search(r'<a id="older" href="\?before=(\d+)"', first)
    assert older
    second = staff_client.get(reverse("dead-letters"), {"before": older.group(1)})
    text = second.content.decode()
    assert text.count("<tr data-message=") == 5 and "reason 4<" in text and 'id="older"' not in text
    email = staff_client.get(reverse("dead-letters"), {"destination": "email"}).content.decode()
    assert email.count("<tr data-message=") == 11 and "(11 to email)" in email
    assert "payment (44)" in email and "<strong>email (11)</strong>" in email


@pytest.mark.parametrize("before", ["yesterday", "0", "-5", "9" * 30])
def test_a_bad_page_parameter_is_a_400_naming_it(staff_client, before):
    response = staff_client.get(reverse("dead-letters"), {"before": before})
    assert response.status_code == 400
    assert "<code>before</code>" in response.content.decode()


def test_dead_letters_are_for_staff_only(client, django_user_model):
    response = client.get(reverse("dead-letters"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    assert client.get(reverse("dead-letters")).status_code == 302


def test_a_reason_is_shown_as_text(staff_client):
    outbox.dead_reply("x", "payment", "<script>alert(1)</script> refused")
    html = staff_client.get(reverse("dead-letters")).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
