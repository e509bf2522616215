"""What an alert looks like on the wire: a generic JSON body signed like the participants'
messages (sagas/messaging/signing.py, the same headers), a Slack-compatible body, and an
email. Pure functions of the alert; deliver.py sends them."""

from __future__ import annotations

import json
from typing import Any

from sagas.messaging import signing
from sagas.models import Alert, AlertDelivery
from sagas.serializers import iso

DELIVERY = "X-Sagascope-Delivery"  # the same on every attempt: a receiver drops copies
MAX_TEXT = 2900  # Slack's section text holds 3,000 characters


def payload(alert: Alert, delivery: AlertDelivery) -> dict[str, Any]:
    rule = alert.rule
    return {
        "delivery": str(delivery.delivery_id),
        "alert": {
            "id": alert.id,
            "rule": rule.name if rule else None,
            "kind": rule.kind if rule else "test",
            "key": alert.key,
            "state": alert.state,
            "title": alert.title,
            "text": alert.text,
            "note": rule.note if rule else "",
            "fired_at": iso(alert.fired_at),
            "test": rule is None,
        },
    }


def webhook(alert: Alert, delivery: AlertDelivery, slack: bool) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook POST; signed whenever the destination has a secret."""
    document = slack_body(alert) if slack else payload(alert, delivery)
    body = json.dumps(document, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", DELIVERY: str(delivery.delivery_id)}
    destination = delivery.destination
    if destination.secret:
        headers.update(signing.sign(destination.secret, body, "sagascope-alerts"))
    return body, headers


def _mrkdwn(text: str) -> str:
    # Slack reads <...> as links and mentions: escape what came from saga errors.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(alert: Alert) -> dict[str, Any]:
    text = alert.text + (f"\n_{alert.rule.note}_" if alert.rule and alert.rule.note else "")
    title = _mrkdwn(alert.title)
    return {
        "text": f"{title}",  # the notification's fallback line
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(text)[:MAX_TEXT]}},
        ],
    }


def email(alert: Alert) -> tuple[str, str]:
    """Subject and plain-text body."""
    rule = alert.rule
    lines = [alert.text, ""]
    if rule and rule.note:
        lines += [rule.note, ""]
    lines.append(
        f"Rule: {rule.name if rule else 'test alert'}; key {alert.key}; fired at "
        f"{iso(alert.fired_at)}."
    )
    subject = f"[sagascope] {alert.title}".replace("\n", " ")[:200]
    return subject, "\n".join(lines)
