"""manage.py list_api_tokens: every token with its scopes, use and state (never its hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from sagas.models import ApiToken

COLUMNS = ("name", "scopes", "created", "last used", "expires", "revoked", "state")


class Command(BaseCommand):
    help = "List the API tokens: name, scopes, when created, last used, expires, revoked."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        rows = [
            (
                token.name,
                ",".join(token.scopes) or "-",
                _when(token.created_at),
                _when(token.last_used_at),
                _when(token.expires_at, "never"),
                _when(token.revoked_at),
                token.state(now),
            )
            for token in ApiToken.objects.order_by("name")
        ]
        if not rows:
            self.stdout.write("no API tokens; manage.py create_api_token NAME makes one")
            return
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())


def _when(moment: datetime | None, none: str = "-") -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else none
