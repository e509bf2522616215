"""ASGI entry point for daphne: HTTP through Django (static files included, so one process
serves the whole UI) and the live websockets, which need a staff session and an Origin
that is the socket's own origin or a trusted one (see dashboard/live/origins.py): a page
on another site cannot open them with our cookie. Request bodies over the limit are
refused as they arrive, before daphne has read them whole (config/bodylimit.py)."""

import os

import django
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from config import bodylimit  # noqa: E402
from dashboard import conf  # noqa: E402  (needs the apps loaded)
from dashboard.live.origins import SameOriginValidator  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402
from sagas.telemetry.setup import configure, traced_http  # noqa: E402

configure("web")
bodylimit.install(conf.request_body_limit())

application = ProtocolTypeRouter(
    {
        "http": traced_http(ASGIStaticFilesHandler(get_asgi_application())),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
