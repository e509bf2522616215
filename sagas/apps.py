from __future__ import annotations

from django.apps import AppConfig


class SagasConfig(AppConfig):
    name = "sagas"
    verbose_name = "Sagas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Import every installed app's sagas.py and participants.py: defining a Saga or a
        # Participant registers it.
        autodiscover_modules("sagas", "participants")

        # Registers the deploy checks of secrets (manage.py check --deploy).
        from . import checks  # noqa: F401
