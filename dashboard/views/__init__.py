"""The dashboard's pages. Each renders its first state; its script then goes live."""

from .actions import input_diff, saga_action, saga_operator, saga_restart
from .alerts import alerts
from .bulk import bulk_operation, bulk_operations, bulk_preview, bulk_progress, bulk_start
from .exports import saga_export, saga_history
from .outbox import dead_letters, outbox
from .overview import overview
from .problems import problem_triage, problems
from .sagas import saga_detail, saga_list, saga_reveal
from .savedviews import saved_views, view_delete, view_edit, view_open, view_save
from .session import session_state
from .workers import workers, workers_data

__all__ = [
    "alerts",
    "bulk_operation",
    "bulk_operations",
    "bulk_preview",
    "bulk_progress",
    "bulk_start",
    "dead_letters",
    "input_diff",
    "outbox",
    "overview",
    "problem_triage",
    "problems",
    "saga_action",
    "saga_detail",
    "saga_export",
    "saga_history",
    "saga_list",
    "saga_operator",
    "saga_restart",
    "saga_reveal",
    "saved_views",
    "session_state",
    "view_delete",
    "view_edit",
    "view_open",
    "view_save",
    "workers",
    "workers_data",
]
