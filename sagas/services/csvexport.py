"""A saga list as CSV, streamed: rows are read in keyset batches of BATCH, newest first, so
memory stays bounded whatever the list's length (100,000 rows are never in memory at once).

A cell a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage
return) gets a leading quote (OWASP's advice against CSV injection); the csv module
quotes commas, quotes and line breaks."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone

from sagas.models import SagaInstance
from sagas.services.actors import READ_SAGAS, Actor, require
from sagas.services.listcolumns import COLUMNS, DEFAULT_COLUMNS
from sagas.services.queries import SagaFilter

BATCH = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What each list column becomes in the file: the whole value (the page cuts some short).
CSV_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "type": ("type",),
    "status": ("status",),
    "correlation_id": ("correlation_id",),
    "step": ("current_step", "phase"),
    "started": ("created_at",),
    "updated": ("updated_at",),
    "finished": ("finished_at",),
    "reason": ("reason",),
}
_COLUMNS_READ = (
    "id",
    "saga_type",
    "status",
    "correlation_id",
    "current_step",
    "definition_steps",
    "phase",
    "created_at",
    "updated_at",
    "finished_at",
    "reason",
)
assert set(CSV_FIELDS) == set(COLUMNS)


def export(
    flt: SagaFilter, actor: Actor, columns: tuple[str, ...] = DEFAULT_COLUMNS
) -> Iterator[str]:
    """The CSV's lines (a header, then a line per saga that `flt` matches). Permission and
    filter are checked now, before the first line, so a refusal is an error, not a file."""
    require(actor, READ_SAGAS)
    qs = flt.apply(SagaInstance.objects.all())  # InvalidQuery now, not mid-download
    fields = [f for c in columns for f in CSV_FIELDS[c]]
    return _lines(qs, fields)


def download(lines: Iterator[str]) -> StreamingHttpResponse:
    """`lines` streamed as a CSV attachment: the API and the dashboard serve it alike."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = f"sagas-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class _Line:
    """A file whose write returns what it was given: csv.writer then makes lines to yield."""

    def write(self, text: str) -> str:
        return text


def _lines(qs: Any, fields: list[str]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(fields)
    after: tuple[datetime, Any] | None = None
    while True:
        batch = qs.order_by("-created_at", "-id")
        if after is not None:
            created, key = after
            batch = batch.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=key))
        rows = list(batch.values_list(*_COLUMNS_READ)[:BATCH])
        if not rows:
            return
        # One string per batch: far fewer chunks for the server to send than one per row.
        yield "".join(writer.writerow([_safe(v) for v in _values(row, fields)]) for row in rows)
        if len(rows) < BATCH:
            return
        after = (rows[-1][7], rows[-1][0])


def _values(row: tuple[Any, ...], fields: list[str]) -> list[Any]:
    saga_id, kind, status, correlation, step, steps, phase, created, updated, finished, reason = row
    steps = steps or []
    values = {
        "id": saga_id,
        "type": kind,
        "status": status,
        "correlation_id": correlation,
        "current_step": steps[step] if step < len(steps) else "",
        "phase": phase,
        "created_at": created.isoformat(),
        "updated_at": updated.isoformat(),
        "finished_at": finished.isoformat() if finished else "",
        "reason": reason,
    }
    return [values[f] for f in fields]


def _safe(value: Any) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
