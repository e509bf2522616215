from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model, user_logged_out
        from django.db.models.signals import post_delete, post_save

        from sagas.signals import saga_events_committed

        from .live.access import on_logged_out, on_user_changed
        from .live.broadcast import on_events_committed

        # Here, not in the web server's start-up, so worker processes publish too: the
        # dashboard is an installed app wherever the engine runs.
        saga_events_committed.connect(on_events_committed, dispatch_uid="dashboard-live-push")
        # A live socket lasts no longer than its staff session.
        user_logged_out.connect(on_logged_out, dispatch_uid="dashboard-live-logout")
        user_model = get_user_model()
        post_save.connect(on_user_changed, sender=user_model, dispatch_uid="dashboard-live-user")
        post_delete.connect(on_user_changed, sender=user_model, dispatch_uid="dashboard-live-user")
