"""manage.py create_api_token NAME: issue a token for a service; it is shown once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sagas.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a service. Only its hash is stored: copy it now."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="who uses the token, e.g. checkout-service")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiToken.SCOPES,
            dest="scopes",
            help="start, read or operate; repeat for several (default: start and read)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("the token needs a name")
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"a token named {name!r} exists; pick another name")
        _, raw = ApiToken.issue(name, options["scopes"] or ["start", "read"])
        self.stdout.write(raw)
