"""ApiToken: how services authenticate to the API. Only a hash of the token is stored.

A token is live until it is revoked (`revoked_at`) or its expiry passes (`expires_at`,
None for never); a token that is not live authenticates nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiTokenQuerySet(models.QuerySet):
    def live(self, now: datetime | None = None) -> ApiTokenQuerySet:
        """Tokens neither revoked nor expired at `now`."""
        return self.filter(revoked_at=None).filter(_unexpired(now or timezone.now()))

    def revoked(self) -> ApiTokenQuerySet:
        return self.exclude(revoked_at=None)

    def expired(self, now: datetime | None = None) -> ApiTokenQuerySet:
        """Tokens whose expiry has passed and that were not revoked first."""
        return self.filter(revoked_at=None).exclude(_unexpired(now or timezone.now()))


def _unexpired(now: datetime) -> Q:
    return Q(expires_at=None) | Q(expires_at__gt=now)


class ApiToken(models.Model):
    SCOPES = ("start", "read", "operate", "triage", "sensitive")
    PREFIX = "sgs_"

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: the token lasts until revoked.
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(
        cls, name: str, scopes: list[str], expires_at: datetime | None = None
    ) -> tuple[ApiToken, str]:
        """Create a token; the raw value is returned once and never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            name=name, token_hash=cls.hash(raw), scopes=sorted(scopes), expires_at=expires_at
        )
        return token, raw

    def state(self, now: datetime | None = None) -> str:
        """'live', 'revoked' or 'expired'."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return "expired"
        return "live"

    @property
    def is_live(self) -> bool:
        return self.state() == "live"

    def revoke(self) -> bool:
        """Revoke the token from now on; False if it was already revoked."""
        now = timezone.now()
        # One UPDATE guarded by revoked_at: two revocations at once keep the first time.
        if not ApiToken.objects.filter(pk=self.pk, revoked_at=None).update(revoked_at=now):
            self.refresh_from_db(fields=["revoked_at"])
            return False
        self.revoked_at = now
        return True
