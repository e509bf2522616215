"""SavedView: a saga list an operator named (its filters and columns), for themselves or,
shared, for every operator. Who sees and changes one is decided in sagas/services/savedviews.py."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    shared = models.BooleanField(default=False)
    # The list's query string as the list takes it ("status=failed&type=order"), checked
    # against the list's parameters when saved (savedviews.VIEW_PARAMS).
    querystring = models.TextField(blank=True, default="")
    # Comma-separated names from sagas/services/listcolumns.COLUMNS.
    columns = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "saved view"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_owner_name_unique")
        ]
        indexes = [models.Index(fields=["shared", "name"], name="saved_view_shared_idx")]

    def __str__(self) -> str:
        return self.name
