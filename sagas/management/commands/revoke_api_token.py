"""manage.py revoke_api_token NAME: the token stops working at once; the record stays."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sagas.models import ApiToken


class Command(BaseCommand):
    help = "Revoke an API token: requests with it get 401 from now on."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="the token's name, as list_api_tokens shows it")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        token = ApiToken.objects.filter(name=name).first()
        if token is None:
            raise CommandError(
                f"no API token is named {name!r}; manage.py list_api_tokens lists them"
            )
        if not token.revoke():
            raise CommandError(
                f"token {name!r} was already revoked at {token.revoked_at:%Y-%m-%d %H:%M} UTC"
            )
        self.stdout.write(f"revoked token {name!r}; requests with it now get 401")
