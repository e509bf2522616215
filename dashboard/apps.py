from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from sagas.signals import saga_events_committed

        from .live.broadcast import on_events_committed

        # Here, not in the web server's start-up, so worker processes publish too: the
        # dashboard is an installed app wherever the engine runs.
        saga_events_committed.connect(on_events_committed, dispatch_uid="dashboard-live-push")
