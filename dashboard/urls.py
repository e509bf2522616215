"""The dashboard's pages; config/urls.py mounts them at the site's root, as
dashboard/routing.py holds the dashboard's websockets for config/asgi.py."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.overview, name="home"),
    path("sagas/", views.saga_list, name="saga-list"),
    path("sagas/export.csv", views.saga_export, name="saga-export"),
    path("sagas/<uuid:saga_id>/", views.saga_detail, name="saga-detail"),
    # Before the action route, whose <action> would otherwise take these names.
    path("sagas/<uuid:saga_id>/operator/", views.saga_operator, name="saga-operator"),
    path("sagas/<uuid:saga_id>/input-diff/", views.input_diff, name="saga-input-diff"),
    path("sagas/<uuid:saga_id>/restart/", views.saga_restart, name="saga-restart"),
    path("sagas/<uuid:saga_id>/history/", views.saga_history, name="saga-history"),
    path("sagas/<uuid:saga_id>/reveal/", views.saga_reveal, name="saga-reveal"),
    path("sagas/<uuid:saga_id>/<str:action>/", views.saga_action, name="saga-action"),
    path("bulk/", views.bulk_operations, name="bulk-list"),
    path("bulk/preview/", views.bulk_preview, name="bulk-preview"),
    path("bulk/start/", views.bulk_start, name="bulk-start"),
    path("bulk/<int:operation_id>/", views.bulk_operation, name="bulk-operation"),
    path("bulk/<int:operation_id>/progress/", views.bulk_progress, name="bulk-progress"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/dead/", views.dead_letters, name="dead-letters"),
    path("problems/", views.problems, name="problems"),
    path(
        "problems/<int:problem_id>/<str:action>/",
        views.problem_triage,
        name="problem-triage",
    ),
    path("workers/", views.workers, name="workers"),
    path("workers/data/", views.workers_data, name="workers-data"),
    path("alerts/", views.alerts, name="alerts"),
    path("views/", views.saved_views, name="saved-views"),
    path("views/save/", views.view_save, name="saved-view-save"),
    path("views/<int:view_id>/", views.view_open, name="saved-view"),
    path("views/<int:view_id>/edit/", views.view_edit, name="saved-view-edit"),
    path("views/<int:view_id>/delete/", views.view_delete, name="saved-view-delete"),
    # A refused live socket asks here whether its session ended (static/dashboard/live.js).
    path("session/", views.session_state, name="session"),
]
