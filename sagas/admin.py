"""The Django admin: a second place to find sagas and repair them.

Sagas are read-only here (their state changes only through the state machine); the repair
actions are admin actions that call the same service layer, with the same permissions,
as the dashboard and the API. The operator-action audit log is read-only for everyone.
API tokens are listed and revoked here, never made or edited (see ApiTokenAdmin).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from sagas import sensitive, serializers
from sagas.exceptions import SagaError
from sagas.models import ApiToken, OperatorAction, SagaEvent, SagaInstance, StepAttempt
from sagas.services import bulk
from sagas.services.actions import ACTIONS, MAX_REASON, effect_of, perform
from sagas.services.actors import Actor

# Columns of SagaInstance the admin never shows as stored: its input and results (masked
# copies instead) and the keyed hashes search uses.
MASKED_FIELDS = ("input", "results", "sensitive_hashes")


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StepAttemptInline(ReadOnlyInline):
    model = StepAttempt
    fields = (
        "step_name",
        "phase",
        "attempt",
        "status",
        "idempotency_key",
        "started_at",
        "finished_at",
        "error_type",
        "error_message",
        "duplicates",
    )
    readonly_fields = fields
    ordering = ("started_at", "id")


class SagaEventInline(ReadOnlyInline):
    model = SagaEvent
    fields = ("id", "created_at", "type", "step", "phase", "attempt", "status", "actor", "payload")
    readonly_fields = fields
    ordering = ("id",)


class OperatorActionInline(ReadOnlyInline):
    model = OperatorAction
    fields = (
        "created_at",
        "actor",
        "action",
        "reason",
        "step",
        "status_before",
        "status_after",
        "outcome",
        "trace_id",
    )
    readonly_fields = fields


def dashboard_url(saga_id: Any) -> str:
    """The saga's page in the dashboard, if the project mounts the dashboard (sagas is an
    app of its own: a project without the dashboard gets no link)."""
    try:
        return reverse("saga-detail", args=[uuid.UUID(str(saga_id))])
    except (NoReverseMatch, ValueError):
        return ""


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_REASON)


def _make_action(name: str) -> Any:
    spec = ACTIONS[name]

    def run(modeladmin: SagaAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
        return modeladmin.run_action(request, queryset, name)

    run.__name__ = f"action_{name}"
    codename = spec.permission.split(".", 1)[1]
    return admin.action(description=f"{name.capitalize()}: {spec.summary}", permissions=[codename])(
        run
    )


@admin.register(SagaInstance)
class SagaAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "saga_type",
        "status",
        "correlation_id",
        "current_step_name",
        "version",
        "created_at",
        "updated_at",
        "dashboard_link",
    )
    list_filter = ("saga_type", "status", "created_at")
    search_fields = ("correlation_id",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
    show_full_result_count = False  # a count over millions of sagas on every page costs
    inlines = (StepAttemptInline, OperatorActionInline, SagaEventInline)
    actions = [_make_action(name) for name in ACTIONS if not ACTIONS[name].edits_input]

    # Saga data is shown masked (sagas/sensitive.py): the dashboard's detail page is where
    # a permitted operator reveals it, recorded.
    exclude = MASKED_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        kept = [f.name for f in self.model._meta.fields if f.name not in MASKED_FIELDS]
        return [*kept, "masked_input", "masked_results"]

    @admin.display(description="input")
    def masked_input(self, obj: SagaInstance) -> str:
        return _json_text(serializers.saga_input(obj))

    @admin.display(description="results")
    def masked_results(self, obj: SagaInstance) -> str:
        return _json_text(serializers.state(obj)["context"])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sagas start through the API or the service layer

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the history is the audit trail

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A saga id matches exactly; anything else searches correlation ids."""
        try:
            return queryset.filter(id=uuid.UUID(search_term.strip())), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)

    @admin.display(description="current step")
    def current_step_name(self, obj: SagaInstance) -> str:
        return f"{obj.current_step_name or '-'} ({obj.phase})"

    @admin.display(description="dashboard")
    def dashboard_link(self, obj: SagaInstance) -> str:
        url = dashboard_url(obj.pk)
        return format_html('<a href="{}">open</a>', url) if url else "-"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The saga's page in the dashboard: its timeline, its live state, its actions.
        extra_context = {**(extra_context or {}), "dashboard_url": dashboard_url(object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    # One has_<codename>_permission per action permission, as admin actions expect.
    def _may(self, request: HttpRequest, codename: str) -> bool:
        return Actor.of_user(request.user).may(f"sagas.{codename}")

    def has_retry_saga_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "retry_saga")

    def has_resume_saga_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "resume_saga")

    def has_compensate_saga_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "compensate_saga")

    def has_cancel_saga_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "cancel_saga")

    def has_skip_step_permission(self, request: HttpRequest) -> bool:
        return self._may(request, "skip_step")

    def run_action(self, request: HttpRequest, queryset: QuerySet, name: str) -> Any:
        """One saga: the action now, as the dashboard does. Several: a tracked bulk
        operation (bulk permission, cap, reason rules), which workers carry out."""
        spec = ACTIONS[name]
        actor = Actor.of_user(request.user)
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        first_two = list(queryset[:2])
        if not first_two:
            self.message_user(request, "None of the selected sagas exist now.", messages.WARNING)
            return None
        single = len(first_two) == 1
        try:
            if spec.needs_reason and not form.is_valid():
                # Several sagas: the preview also refuses early (permission, cap), before
                # the operator writes a reason for nothing.
                preview = None if single else bulk.preview(name, queryset, actor)
                return self._confirm(request, queryset, name, form, preview)
            reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
            if single:
                self._perform_one(request, first_two[0], name, actor, reason)
            else:
                self._start_bulk(request, queryset, name, actor, reason)
        except (PermissionDenied, SagaError) as exc:  # TooManySagas, ReasonRequired included
            self.message_user(request, f"{name} refused: {exc}", messages.ERROR)
        return None

    def _perform_one(
        self, request: HttpRequest, saga: SagaInstance, name: str, actor: Actor, reason: str
    ) -> None:
        perform(saga.id, name, actor=actor, version=saga.version, reason=reason)
        self.message_user(request, f"{name}: applied to saga {saga.id}", messages.SUCCESS)

    def _start_bulk(
        self, request: HttpRequest, queryset: QuerySet, name: str, actor: Actor, reason: str
    ) -> None:
        if request.POST.get("select_across") == "1":
            selection = {"admin filter": request.GET.urlencode() or "none"}
        else:
            selection = {"ids": [str(i) for i in queryset.values_list("id", flat=True)]}
        operation = bulk.start(name, queryset, actor, reason=reason, selection=selection)
        url = reverse("bulk-operation", args=[operation.id])
        self.message_user(
            request,
            format_html(
                '{}: queued for {} saga(s) as <a href="{}">bulk operation {}</a>; workers '
                "carry it out saga by saga, and its page shows each saga's outcome.",
                name,
                operation.total,
                url,
                operation.id,
            ),
            messages.SUCCESS,
        )

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        name: str,
        form: ReasonForm,
        preview: bulk.Preview | None,
    ) -> HttpResponse:
        across = request.POST.get("select_across") == "1"
        effects = [] if preview else [(saga, effect_of(saga, name)) for saga in queryset[:100]]
        context = {
            **self.admin_site.each_context(request),
            "title": f"{name.capitalize()}: confirm",
            "action": name,
            "summary": ACTIONS[name].summary,
            "effects": effects,
            "preview": preview,
            # Select-all posts the changelist's filter again, not every id it matched (the
            # changelist still wants one checked box to run an action at all).
            "select_across": across,
            "selected": queryset.values_list("pk", flat=True)[: 1 if across else None],
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/sagas/confirm_action.html", context)


@admin.register(OperatorAction)
class OperatorActionAdmin(admin.ModelAdmin):
    """The audit log: readable by those allowed to view it, changeable by nobody."""

    list_display = (
        "created_at",
        "actor",
        "action",
        "saga",
        "step",
        "status_before",
        "status_after",
        "outcome",
        "reason",
    )
    list_filter = ("action", "outcome", "created_at")
    search_fields = ("actor", "reason", "saga__correlation_id")
    date_hierarchy = "created_at"
    exclude = ("detail",)  # an edit's input before and after: shown masked

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*(f.name for f in self.model._meta.fields if f.name != "detail"), "masked_detail"]

    @admin.display(description="detail")
    def masked_detail(self, obj: OperatorAction) -> str:
        return _json_text(sensitive.mask_detail(obj.saga.saga_type, obj.detail))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "Live"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("live", "revoked", "expired"):
            return getattr(queryset, self.value())()
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only: a token is made by `manage.py create_api_token`, the one place that can
    show its raw value once; here it can only be revoked. The hash is never shown."""

    list_display = (
        "name",
        "scopes",
        "state",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = (TokenStateFilter, "created_at")
    search_fields = ("name",)
    ordering = ("name",)
    fields = ("name", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_tokens"]

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return obj.state()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row records who had access, and until when

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Every field is read-only: a Save button would save nothing.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked, already = [], []
        for token in queryset.order_by("name"):
            (revoked if token.revoke() else already).append(token.name)
        if revoked:
            self.message_user(
                request,
                f"Revoked {len(revoked)} token(s): {', '.join(revoked)}; "
                "requests with them now get 401.",
                messages.SUCCESS,
            )
        if already:
            self.message_user(request, f"Already revoked: {', '.join(already)}.", messages.WARNING)


from sagas import alerts_admin  # noqa: E402, F401  (registers the alert models' admin)
