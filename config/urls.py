"""The site's URLs: the dashboard's pages, the login, the admin, the JSON API, the
health probes and the Prometheus metrics."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from sagas.api import api
from sagas.api.health import healthz, readyz
from sagas.api.metrics import metrics_view


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on their own (the admin and the API docs do not link
    an icon): the site's icon, rather than a 404 and a warning in the log."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    # No namespace: the dashboard's URL names ("home", "saga-list", ...) stay as they were.
    path("", include("dashboard.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
]
