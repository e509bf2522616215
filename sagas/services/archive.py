"""Archives of pruned sagas: one JSON line per saga, whole (the saga, its attempts, events,
operator actions, outbox rows and bulk items), gzip files by the day the sagas finished,
in the archive store (archive_stores.py: SAGASCOPE_ARCHIVE_DIR, or a bucket).

A file is stored whole or not at all, so a reader never sees half a file and a crash
leaves a complete file or none. `load` puts archived sagas back, read-only (LoadedSaga).
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from sagas import conf, sensitive
from sagas.models import (
    BulkItem,
    BulkOperation,
    LoadedSaga,
    OperatorAction,
    OutboxMessage,
    Problem,
    SagaEvent,
    SagaInstance,
    StepAttempt,
)
from sagas.services.archive_stores import store

FORMAT = 1
# Every table keyed by saga, by its key in a record: what "whole" means.
RELATED: dict[str, type[models.Model]] = {
    "attempts": StepAttempt,
    "events": SagaEvent,
    "operator_actions": OperatorAction,
    "outbox": OutboxMessage,
    "bulk_items": BulkItem,
}


class ArchiveError(Exception):
    """The archive file is missing, unreadable or not a sagascope archive."""


def batch_path(day: datetime, batch_id: uuid.UUID, made: datetime) -> str:
    """Where a batch's file goes, relative to the archive root: a directory per day the
    sagas finished, files named by when the batch was made, so the newest sorts last."""
    return f"{day:%Y/%m/%d}/sagas-{made:%Y%m%dT%H%M%S%f}-{batch_id}.jsonl.gz"


# Building records


def columns(model: type[models.Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def records(ids: Iterable[uuid.UUID | str]) -> list[dict[str, Any]]:
    """The archive records of these sagas (those that exist), in id order: every column
    of the saga and of each row keyed by it, as the database holds them."""
    sagas = list(
        SagaInstance.objects.filter(id__in=list(ids)).order_by("id").values(*columns(SagaInstance))
    )
    found = [s["id"] for s in sagas]
    related: dict[str, dict[uuid.UUID, list[dict[str, Any]]]] = {}
    for key, model in RELATED.items():
        by_saga: dict[uuid.UUID, list[dict[str, Any]]] = {}
        rows = model.objects.filter(saga_id__in=found).order_by("id").values(*columns(model))
        for values in rows:
            by_saga.setdefault(values["saga_id"], []).append(values)
        related[key] = by_saga
    now = timezone.now()
    return [
        redact(
            {
                "format": FORMAT,
                "archived_at": now,
                "saga": saga,
                **{key: related[key].get(saga["id"], []) for key in RELATED},
            }
        )
        for saga in sagas
    ]


Shape = tuple[int, frozenset[tuple[str, int]]]


def shape(record: dict[str, Any]) -> Shape:
    """What a record holds, to compare with the database before deleting: the saga's
    version and the ids of its rows (an event can be added without a new version)."""
    rows = frozenset((key, row["id"]) for key in RELATED for row in record.get(key, []))
    return record["saga"]["version"], rows


def shapes(ids: list[uuid.UUID]) -> dict[uuid.UUID, frozenset[tuple[str, int]]]:
    """The ids of the rows keyed by each of these sagas, now."""
    found: dict[uuid.UUID, set[tuple[str, int]]] = {}
    for key, model in RELATED.items():
        for saga_id, row_id in model.objects.filter(saga_id__in=ids).values_list("saga_id", "id"):
            found.setdefault(saga_id, set()).add((key, row_id))
    return {saga_id: frozenset(rows) for saga_id, rows in found.items()}


def redact(record: dict[str, Any]) -> dict[str, Any]:
    """The one place an archive record passes before it is written: the sensitive fields
    of its saga type masked (sagas/sensitive.py) in the input, the results, each attempt's
    result, each operator action's detail and each outbox body. An archive outlives the
    database's access rules, so it holds no value that needs them; a saga loaded back is
    read-only, so nothing runs on the masks."""
    kind = record["saga"]["saga_type"]
    if not sensitive.paths_of(kind):
        return record
    saga = record["saga"]
    record["saga"] = {
        **saga,
        "input": sensitive.mask_input(kind, saga["input"]),
        "results": sensitive.mask_results(kind, saga["results"]),
    }
    record["attempts"] = [
        {**a, "result": sensitive.mask_result(kind, a["step_name"], a["result"])}
        for a in record["attempts"]
    ]
    record["operator_actions"] = [
        {**a, "detail": sensitive.mask_detail(kind, a["detail"])}
        for a in record["operator_actions"]
    ]
    record["outbox"] = [
        {**m, "body": sensitive.mask_message_body(kind, m["body"], _step_of(m))}
        for m in record["outbox"]
    ]
    return record


def _step_of(message: dict[str, Any]) -> str:
    headers = message.get("headers")
    return str(headers.get("step", "")) if isinstance(headers, dict) else ""


# Writing and reading files


def write(name: str, lines: list[dict[str, Any]]) -> None:
    """Store `lines` as the archive file `name`, whole or not at all."""
    data = gzip.compress(
        b"".join(json.dumps(line, cls=DjangoJSONEncoder).encode() + b"\n" for line in lines),
        mtime=0,
    )
    store().put(name, data)


def exists(name: str) -> bool:
    return store().exists(name)


def discard_partial(name: str) -> None:
    store().discard_partial(name)


def read_stored(name: str) -> Iterator[dict[str, Any]]:
    """The records of an archive file in the store."""
    try:
        data = store().get(name)
    except Exception as exc:
        raise ArchiveError(f"cannot read archive {name}: {exc}") from exc
    return parse(data, name)


def read(path: Path | str) -> Iterator[dict[str, Any]]:
    """The records of an archive file: a local file, or else a name in the store."""
    if Path(path).is_file():
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ArchiveError(f"cannot read archive {path}: {exc}") from exc
        return parse(data, str(path))
    if conf.archive_bucket() or not Path(path).is_absolute():
        return read_stored(str(path))
    raise ArchiveError(f"cannot read archive {path}: no such file")


def parse(data: bytes, where: str) -> Iterator[dict[str, Any]]:
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"cannot read archive {where}: {exc}") from exc
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ArchiveError(f"cannot read archive {where}:{number}: {exc}") from exc
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ArchiveError(f"{where}:{number} is not a sagascope archive record")
        yield record


def files(newest_first: bool = True, day: date | None = None) -> list[str]:
    """The names of every archive file in the store, or of one day's."""
    names = store().names(f"{day:%Y/%m/%d}/" if day else "")
    return sorted(names, reverse=newest_first)


def find(saga_id: uuid.UUID | str, day: date | None = None) -> tuple[str, dict[str, Any]] | None:
    """The newest archived record of a saga, scanning the files newest first (only the
    day it finished, if given: a year of archives is many files)."""
    wanted = str(saga_id)
    for name in files(day=day):
        for record in read_stored(name):
            if record["saga"]["id"] == wanted:
                return store().where(name), record
    return None


# Loading back


def _unrow(model: type[models.Model], data: dict[str, Any]) -> models.Model:
    values = {}
    for field in model._meta.concrete_fields:
        if field.attname in data:
            value = data[field.attname]
            values[field.attname] = value if value is None else field.to_python(value)
    return model(**values)


def load(lines: Iterable[dict[str, Any]], source: str) -> tuple[list[str], list[str]]:
    """Put archived sagas back, read-only; returns (loaded ids, skipped ids: already here)."""
    loaded: list[str] = []
    skipped: list[str] = []
    now = timezone.now()
    for record in lines:
        saga = _unrow(SagaInstance, record["saga"])
        with transaction.atomic():
            if SagaInstance.objects.filter(id=saga.id).exists():
                skipped.append(str(saga.id))
                continue
            # What the saga pointed to may be gone since: keep the saga, drop the link.
            for link in ("problem_id", "stuck_problem_id"):
                value = getattr(saga, link)
                if value is not None and not Problem.objects.filter(id=value).exists():
                    setattr(saga, link, None)
            saga.save(force_insert=True)
            for key, model in RELATED.items():
                objects = [_unrow(model, data) for data in record.get(key, [])]
                if model is OutboxMessage:
                    _never_resend(objects)
                if model is OperatorAction:
                    _drop_missing_users(objects)
                if model is BulkItem:
                    live = set(
                        BulkOperation.objects.filter(
                            id__in=[o.operation_id for o in objects]
                        ).values_list("id", flat=True)
                    )
                    objects = [o for o in objects if o.operation_id in live]
                stamps = _stamps(model, objects)
                model.objects.bulk_create(objects)
                for pk, values in stamps:
                    model.objects.filter(pk=pk).update(**values)
            LoadedSaga.objects.create(saga=saga, source=source[:300], loaded_at=now)
        loaded.append(str(saga.id))
    return loaded, skipped


def _stamps(model: type[models.Model], objects: list[Any]) -> list[tuple[Any, dict]]:
    # auto_now(_add) fields are stamped again on insert: keep the archived times to put back.
    names = [
        f.attname
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)
    ]
    return [(o.pk, {n: getattr(o, n) for n in names}) for o in objects] if names else []


def _never_resend(messages: list[Any]) -> None:
    # A loaded saga is for reading: a command still pending when it was archived is not
    # handed to the relay again.
    for message in messages:
        if message.status == OutboxMessage.Status.PENDING:
            message.status = OutboxMessage.Status.DEAD
            message.last_error = "loaded from an archive: never sent again"


def _drop_missing_users(actions: list[Any]) -> None:
    from django.contrib.auth import get_user_model

    ids = {a.user_id for a in actions if a.user_id is not None}
    live = set(get_user_model().objects.filter(id__in=ids).values_list("id", flat=True))
    for action in actions:
        if action.user_id not in live:
            action.user_id = None
