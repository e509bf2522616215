"""manage.py create_api_token NAME: issue a token for a service; it is shown once."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sagas.models import ApiToken

MAX_DAYS = 36_500  # a hundred years: past that, say "no expiry" by leaving the option out


class Command(BaseCommand):
    help = "Create an API token for a service. Only its hash is stored: copy it now."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="who uses the token, e.g. checkout-service")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiToken.SCOPES,
            dest="scopes",
            help="start, read, operate, triage or sensitive (may reveal sensitive fields); "
            "repeat for several (default: start and read)",
        )
        parser.add_argument(
            "--expires-in",
            metavar="DAYS",
            help="the token stops working after this many days (default: never; "
            "revoke it with revoke_api_token)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("the token needs a name")
        expires_at = None
        if options["expires_in"] is not None:
            expires_at = timezone.now() + timedelta(days=_days(options["expires_in"]))
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} exists; pick another name")
        _, raw = ApiToken.issue(name, options["scopes"] or ["start", "read"], expires_at)
        self.stdout.write(raw)  # alone on stdout, so a script can capture it
        if expires_at is not None:
            self.stderr.write(f"token {name!r} expires at {expires_at:%Y-%m-%d %H:%M} UTC")


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not (0 < days <= MAX_DAYS):  # NaN fails this too
        raise CommandError(
            f"--expires-in must be a positive number of days up to {MAX_DAYS}, not {text!r}"
        )
    return days
