"""manage.py create_operator [USERNAME]: the operator login, with the password from the
environment; safe to run on every start (docker-compose.yml's `createoperator` does)."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

PASSWORD_VARIABLE = "SAGASCOPE_OPERATOR_PASSWORD"


class Command(BaseCommand):
    help = (
        f"Create or update a staff user holding every sagascope permission, with the password "
        f"in ${PASSWORD_VARIABLE}. A password that already matches is left alone, so "
        "running it again ends nobody's session."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", nargs="?", default="operator")
        parser.add_argument(
            "--superuser", action="store_true", help="make the user a superuser as well"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username:
            raise CommandError("the operator needs a username")
        # Read here, not from an option: a password on a command line shows in `ps`.
        password = os.environ.get("SAGASCOPE_OPERATOR_PASSWORD", "")
        if not password:
            raise CommandError(
                f"set {PASSWORD_VARIABLE} to the operator's password, e.g. the output of "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(16))'"
            )
        user_model = get_user_model()
        with transaction.atomic():
            user, created = user_model.objects.select_for_update().get_or_create(
                **{user_model.USERNAME_FIELD: username}
            )
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(f"{PASSWORD_VARIABLE}: {' '.join(exc.messages)}") from None
            # Setting the same password again would still end every session (Django keys
            # sessions on the password hash, and a new hash has a new salt).
            changed = created or not user.check_password(password)
            if changed:
                user.set_password(password)
            user.is_staff = user.is_active = True
            user.is_superuser = user.is_superuser or options["superuser"]
            user.save()
            user.user_permissions.add(*Permission.objects.filter(content_type__app_label="sagas"))
        if created:
            self.stdout.write(f"created operator {username!r}")
        elif changed:
            self.stdout.write(f"operator {username!r}: password changed (its sessions ended)")
        else:
            self.stdout.write(f"operator {username!r} exists; password unchanged")
