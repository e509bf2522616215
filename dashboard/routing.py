"""Websocket routes; each page's script opens the one it needs."""

from __future__ import annotations

from django.urls import path

from .live.feeds import OutboxConsumer, OverviewConsumer, ProblemsConsumer, SagaListConsumer
from .live.saga import SagaConsumer

websocket_urlpatterns = [
    path("ws/overview/", OverviewConsumer.as_asgi()),
    path("ws/sagas/", SagaListConsumer.as_asgi()),
    path("ws/sagas/<uuid:saga_id>/", SagaConsumer.as_asgi()),
    path("ws/outbox/", OutboxConsumer.as_asgi()),
    path("ws/problems/", ProblemsConsumer.as_asgi()),
]
