"""The admin of alerts (registered by sagas/admin.py): rules and destinations editable by
those with `sagas.manage_alerts` (the service layer checks it and validates), a test alert
per destination, and the alerts fired, read-only. A destination's secret is write-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from sagas.models import Alert, AlertDestination, AlertRule
from sagas.models.alerts import KIND_PARAMS
from sagas.services import alerts
from sagas.services.actors import MANAGE_ALERTS, Actor, is_staff


def _params_help() -> str:
    kinds = []
    for kind, spec in KIND_PARAMS.items():
        names = ", ".join(f"{n} (default {p.default!r})" for n, p in spec.items()) or "none"
        kinds.append(f"{kind}: {names}")
    return "A JSON object. Parameters by kind: " + "; ".join(kinds) + "."


class ManagedAdmin(admin.ModelAdmin):
    """Staff see; only holders of sagas.manage_alerts change, through the service layer."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_staff(request.user)

    def _manages(self, request: HttpRequest) -> bool:
        return Actor.of_user(request.user).may(MANAGE_ALERTS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._manages(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages(request)

    def has_manage_alerts_permission(self, request: HttpRequest) -> bool:
        return self._manages(request)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        alerts.delete(Actor.of_user(request.user), obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class RuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = ("name", "kind", "params", "saga_type", "enabled", "throttle_seconds", "note")
        help_texts = {"params": _params_help()}


@admin.register(AlertRule)
class AlertRuleAdmin(ManagedAdmin):
    form = RuleForm
    list_display = ("name", "kind", "params", "saga_type", "enabled", "throttle_seconds")
    list_filter = ("kind", "enabled")
    ordering = ("id",)

    def save_model(self, request: HttpRequest, obj: AlertRule, form: Any, change: bool) -> None:
        alerts.save_rule(Actor.of_user(request.user), obj)


class DestinationForm(forms.ModelForm):
    url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="URL (webhooks)"
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The signing key (16 characters or more for a generic webhook). Leave "
        "blank to keep the current one; it is never shown again.",
    )

    class Meta:
        model = AlertDestination
        fields = ("name", "channel", "url", "secret", "emails", "enabled")

    def clean_secret(self) -> str:
        return self.cleaned_data.get("secret") or (self.instance.secret if self.instance else "")


@admin.register(AlertDestination)
class AlertDestinationAdmin(ManagedAdmin):
    form = DestinationForm
    list_display = ("name", "channel", "url", "enabled")
    ordering = ("name",)
    actions = ["send_test_alert"]

    def save_model(
        self, request: HttpRequest, obj: AlertDestination, form: Any, change: bool
    ) -> None:
        alerts.save_destination(Actor.of_user(request.user), obj)

    @admin.action(description="Send a test alert", permissions=["manage_alerts"])
    def send_test_alert(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = Actor.of_user(request.user)
        for destination in queryset.order_by("name")[:20]:
            try:
                delivery = alerts.send_test(actor, destination)
            except PermissionDenied as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            if delivery.status == delivery.Status.DELIVERED:
                self.message_user(
                    request, f"Test alert delivered to {destination.name}.", messages.SUCCESS
                )
            else:
                self.message_user(
                    request,
                    f"Test alert to {destination.name} failed: {delivery.last_error}",
                    messages.ERROR,
                )


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """The alerts fired: read-only; the dashboard's Alerts page shows their deliveries."""

    list_display = ("fired_at", "rule", "key", "state", "throttled", "title", "seen")
    list_filter = ("state", "throttled", "rule")
    ordering = ("-fired_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
