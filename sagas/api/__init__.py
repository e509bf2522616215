"""The JSON API (django-ninja): request validation and the OpenAPI schema from type hints."""

from __future__ import annotations

from ninja import NinjaAPI

from . import errors
from .auth import StaffSessionAuth, TokenAuth
from .bulk import router as bulk_router
from .circuits import router as circuits_router
from .exports import router as exports_router
from .parser import StrictJsonParser
from .problems import router as problems_router
from .replies import router as replies_router
from .routes import router

api = NinjaAPI(
    title="sagascope",
    version="1",
    description="Start, inspect and repair sagas. Services authenticate with "
    "`Authorization: Bearer <token>`; operators with their session (and CSRF token).",
    auth=[TokenAuth(), StaffSessionAuth()],
    urls_namespace="api",
    parser=StrictJsonParser(),
)
# Before the sagas router, whose POST /sagas/{id}/{action} would otherwise take "history".
api.add_router("/", exports_router)
api.add_router("/", router)
api.add_router("/", replies_router)
api.add_router("/", bulk_router)
api.add_router("/", circuits_router)
api.add_router("/", problems_router)
errors.install(api)
