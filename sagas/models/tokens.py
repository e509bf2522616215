"""ApiToken: how services authenticate to the API. Only a hash of the token is stored."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models


class ApiToken(models.Model):
    SCOPES = ("start", "read", "operate")
    PREFIX = "sgs_"

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: the token lasts until revoked.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
        """Create a token; the raw value is returned once and never stored."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(name=name, token_hash=cls.hash(raw), scopes=sorted(scopes))
        return token, raw

    def allows(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes
