"""Liveness and readiness probes for load balancers and orchestrators.

They answer anyone, so a failure says only what is not ready; the detail (a database
error names its host, port and role) goes to the server's log.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

log = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        # No traceback: a probe asks every few seconds, and the message says what failed.
        log.warning("not ready: the database is unreachable: %s: %s", type(exc).__name__, exc)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    if pending:
        return JsonResponse(
            {"status": "unavailable", "pending_migrations": [str(m) for m, _ in pending]},
            status=503,
        )
    return JsonResponse({"status": "ok"})
