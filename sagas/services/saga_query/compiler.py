"""From a parsed query (syntax.py) to a Django Q: every value reaches the database as a
parameter of an ORM lookup, never as SQL text.

Fields:
- `id`, `type`, `status`, `correlation`: the saga's own columns.
- `step`: the step the saga is at now (the list's Step column), by name.
- `error`: `~` only; the text of any attempt's error (type or message) or the saga's reason.
- `started`, `updated`, `finished`: times, compared with > >= < <=; a value is relative
  (`-15m`, `-24h`, `-7d`, `-2w`) or ISO (`2026-11-29`, `2026-11-29T10:00Z`, UTC if bare).
- `input.<path>` and `result.<step>.<path>`: the saga's input and its steps' results, with
  nothing declared. A number compares only with numbers, a string only with strings.

A field some saga type marks sensitive (sagas/sensitive.py) matches by equality only
(=, !=, IN), through the keyed hashes stored at start (`sensitive_hashes`): the plain value
is never compared, so no `~` or range can probe it character by character. A sensitive
result field, and a field that holds or lies inside a sensitive one, cannot be searched.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import CharField, Exists, Func, OuterRef, Q
from django.db.models import Value as SqlValue
from django.db.models.fields.json import KeyTextTransform, KeyTransform, compile_json_path
from django.db.models.functions import Coalesce
from django.db.models.lookups import In
from django.utils import timezone

from sagas import sensitive
from sagas.models import StepAttempt
from sagas.registry import registry
from sagas.statuses import SagaStatus

from .syntax import Both, Comparison, Either, Node, Not, QuerySyntaxError, Value

# A time outside these years is refused: PostgreSQL and Python disagree near the ends.
MIN_YEAR, MAX_YEAR = 1970, 2999
MAX_NUMBER = 2**63 - 1
_RELATIVE = re.compile(r"-([0-9]{1,9})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_LOOKUPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
# What a JSON value's type is called by jsonb_typeof (PostgreSQL) and JSON_TYPE (SQLite).
_JSON_TYPES = {
    "number": ("number", "integer", "real"),
    "string": ("string", "text"),
    "boolean": ("boolean", "true", "false"),
    "null": ("null",),
}
COLUMNS = {"type": "saga_type", "correlation": "correlation_id"}
TIMES = {"started": "created_at", "updated": "updated_at", "finished": "finished_at"}
FIELDS = ("id", "type", "status", "correlation", "step", "error", *TIMES, "input.*", "result.*")


class JsonType(Func):
    """The type of the JSON value at a key path (NULL where there is none)."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        return self.as_sql(compiler, connection, function="jsonb_typeof", **extra)

    def as_sqlite(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        key = self.get_source_expressions()[0]
        column, params, keys = key.preprocess_lhs(compiler, connection)
        return f"JSON_TYPE({column}, %s)", (*params, compile_json_path(keys))


def to_q(node: Node, now: datetime | None = None) -> Q:
    """The Q that selects the sagas `node` matches; QuerySyntaxError for a field or value the
    query cannot use (with its position)."""
    return _Compiler(now or timezone.now()).node(node)


class _Compiler:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def node(self, node: Node) -> Q:
        if isinstance(node, Both):
            q = Q()
            for term in node.terms:
                q &= self.node(term)
            return q
        if isinstance(node, Either):
            q = self.node(node.terms[0])
            for term in node.terms[1:]:
                q |= self.node(term)
            return q
        if isinstance(node, Not):
            return ~self.node(node.term)
        return self.comparison(node)

    def comparison(self, c: Comparison) -> Q:
        head, _, rest = c.field.partition(".")
        if head in ("input", "result") and rest:
            guarded = _sensitive(c)
            if guarded is not None:
                return guarded
        if head == "input" and rest:
            return _json(["input", *rest.split(".")], c)
        if head == "result" and rest:
            return _json(["results", *rest.split(".")], c)
        if rest or head not in (*COLUMNS, *TIMES, "id", "status", "step", "error"):
            raise QuerySyntaxError(
                c.position, f"unknown field '{c.field}'; fields are {', '.join(FIELDS)}"
            )
        if head in TIMES:
            return self.time(TIMES[head], c)
        if head == "error":
            _only(c, ("~",), 'error ~ "declined"')
            return _error(c.values[0].text)
        if head == "step":
            return _step(c)
        if head == "id":
            _only(c, ("=", "!=", "IN"), "id = 1b4e28ba-2fa1-11d2-883f-0016d3cca427")
            return _equal("id", c, [_uuid(v) for v in c.values])
        if head == "status":
            _only(c, ("=", "!=", "IN"), "status IN (failed, compensated)")
            for v in c.values:
                if v.text not in SagaStatus.values:
                    raise QuerySyntaxError(
                        v.position,
                        f"unknown status {v.shown}; statuses are {', '.join(SagaStatus.values)}",
                    )
            return _equal("status", c, [v.text for v in c.values])
        column = COLUMNS[head]
        if c.op == "~":
            return Q(**{f"{column}__icontains": c.values[0].text})
        _only(c, ("=", "!=", "IN", "~"), f"{head} = value")
        return _equal(column, c, [v.text for v in c.values])

    def time(self, column: str, c: Comparison) -> Q:
        _only(c, (">", ">=", "<", "<="), f"{c.field} > -24h")
        return Q(**{f"{column}__{_LOOKUPS[c.op]}": self.moment(c.values[0])})

    def moment(self, v: Value) -> datetime:
        relative = _RELATIVE.fullmatch(v.text)
        if relative and v.kind != "string":
            amount, unit = int(relative[1]), _UNITS[relative[2]]
            try:
                moment = self.now - timedelta(**{unit: amount})
            except OverflowError:
                moment = None
            if moment is None or moment.year < MIN_YEAR:
                raise QuerySyntaxError(v.position, f"{v.text} is too far back (before {MIN_YEAR})")
            return moment
        try:
            moment = datetime.fromisoformat(v.text)
        except ValueError:
            raise QuerySyntaxError(
                v.position,
                f"expected a time like -24h, -15m, -7d or 2026-11-29T10:00Z, not {v.shown}",
            ) from None
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise QuerySyntaxError(v.position, f"a time must be between {MIN_YEAR} and {MAX_YEAR}")
        # UTC, as the pages show it; kept in UTC (PostgreSQL refuses some offsets Python takes).
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _only(c: Comparison, ops: tuple[str, ...], example: str) -> None:
    if c.op not in ops:
        raise QuerySyntaxError(
            c.position, f"{c.field} takes {' '.join(ops)}, not {c.op} (as in {example})"
        )


def _equal(column: str, c: Comparison, values: list[Any]) -> Q:
    q = Q(**{f"{column}__in": values}) if c.op == "IN" else Q(**{column: values[0]})
    return ~q if c.op == "!=" else q


def _uuid(v: Value) -> uuid.UUID:
    try:
        return uuid.UUID(v.text)
    except ValueError:
        raise QuerySyntaxError(v.position, f"expected a whole saga id, not {v.shown}") from None


def _error(text: str) -> Q:
    attempts = StepAttempt.objects.filter(saga=OuterRef("pk")).filter(
        Q(error_message__icontains=text) | Q(error_type__icontains=text)
    )
    return Q(reason__icontains=text) | Q(Exists(attempts))


def _step(c: Comparison) -> Q:
    """The sagas at the named step now: at a position where their own definition has it.
    Positions come from the definitions in the code; a name none of them has is an error."""
    _only(c, ("=", "!=", "IN", "~"), "step = charge_payment")
    places: dict[str, set[int]] = {}
    for saga in registry:
        for index, name in enumerate(saga.step_names()):
            places.setdefault(name, set()).add(index)
    if c.op == "~":
        names = [n for n in places if c.values[0].text.lower() in n.lower()]
    else:
        names = [v.text for v in c.values]
        for v in c.values:
            if v.text not in places:
                raise QuerySyntaxError(
                    v.position,
                    f"no saga type has a step {v.shown}; steps are {', '.join(sorted(places))}",
                )
    q = Q(pk__in=[])
    for name in names:
        for index in sorted(places[name]):
            q |= Q(current_step=index, **{f"definition_steps__{index}": name})
    return ~q if c.op == "!=" else q


def _sensitive_fields() -> set[str]:
    """Every field some registered saga type marks sensitive, as the query names it."""
    names: set[str] = set()
    for saga in registry:
        names.update(sensitive.paths_of(saga).names())
    return names


def _overlap(marked: list[str], parts: list[str]) -> bool:
    """Whether one path starts the other ("*" in a marked path matches any step)."""
    return all(m in (p, "*") for m, p in zip(marked, parts, strict=False))


def _sensitive(c: Comparison) -> Q | None:
    """The comparison of a sensitive field, by its keyed hash; None for a field that is not
    sensitive; QuerySyntaxError for what may not be asked of one."""
    parts = c.field.split(".")
    for name in _sensitive_fields():
        marked = name.split(".")
        # result.*.x marks x in every step's result.
        same = len(marked) == len(parts) and _overlap(marked, parts)
        if same and parts[0] == "input":
            break
        if same:
            raise QuerySyntaxError(
                c.position,
                f"{c.field} is a sensitive field: step results marked sensitive cannot be "
                "searched (no hash of them is kept); search by the input or the correlation id",
            )
        if _overlap(marked, parts):
            raise QuerySyntaxError(
                c.position,
                f"{c.field} holds or lies inside the sensitive field {name}: search that "
                "field itself, by equality",
            )
    else:
        return None
    if c.op not in ("=", "!=", "IN"):
        raise QuerySyntaxError(
            c.position,
            f"{c.field} is a sensitive field: it matches by equality only (=, != or IN), "
            f"through a keyed hash, not with {c.op}",
        )
    # "" where the saga has no such hash: false, never unknown, so NOT of it holds.
    stored = Coalesce(
        KeyTextTransform(c.field, "sensitive_hashes"), SqlValue(""), output_field=CharField()
    )
    hashes = [sensitive.fingerprint(_json_literal(v)) for v in c.values]
    q = Q(In(stored, hashes))
    if c.op == "!=":
        # Only sagas that have the field, as for any other field.
        return Q(sensitive_hashes__has_key=c.field) & ~q
    return q


def _json(path: list[str], c: Comparison) -> Q:
    """A comparison of the JSON value at `path` (column first), typed by its literal."""
    column, keys = path[0], path[1:]
    if any("__" in k for k in keys):
        raise QuerySyntaxError(c.position, f"a field's part cannot hold '__' ({c.field})")
    key: Any = column
    for part in keys:
        key = KeyTransform(part, key)
    # Always with an explicit lookup last, so a key named like a lookup ("gt") stays a key.
    lookup = f"{column}__{'__'.join(keys)}__"
    values = [_json_literal(v) for v in c.values]
    if c.op == "~":
        text = c.values[0].text
        return _typed(key, text) & Q(**{lookup + "icontains": text})
    if c.op in ("=", "!=", "IN"):
        q = Q(pk__in=[])
        for value in values:
            q |= _json_equal(column, keys, key, lookup, value)
        if c.op == "!=":
            # Only sagas that have the field: "!=" is not "has no such field".
            return Q(In(_type_of(key), sum(_JSON_TYPES.values(), ()))) & ~q
        return q
    value = values[0]
    if value is None or isinstance(value, bool):
        raise QuerySyntaxError(
            c.values[0].position, f"{c.op} compares numbers or strings, not {c.values[0].text}"
        )
    return _typed(key, value) & Q(**{lookup + _LOOKUPS[c.op]: value})


def _json_equal(column: str, keys: list[str], key: KeyTransform, lookup: str, value: Any) -> Q:
    if connection.vendor == "postgresql" and not any(k.isdigit() for k in keys):
        # Containment (@>) is what the GIN index (jsonb_path_ops) serves; it compares as
        # JSON does (1000 is not "1000").
        nested: Any = value
        for part in reversed(keys):
            nested = {part: nested}
        return Q(**{f"{column}__contains": nested})
    # Elsewhere (and for array indexes) the value's JSON type is checked with it, so a
    # string never equals a number.
    return _typed(key, value) & Q(**{lookup + "exact": value})


def _typed(key: KeyTransform, value: Any) -> Q:
    if value is None:
        kind = "null"
    elif isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, (int, float)):
        kind = "number"
    else:
        kind = "string"
    return Q(In(_type_of(key), _JSON_TYPES[kind]))


def _type_of(key: KeyTransform) -> Coalesce:
    # "" rather than NULL where the field is missing: the comparison is then false, never
    # unknown, so NOT of it holds for sagas without the field (SQL's NOT NULL is NULL).
    return Coalesce(JsonType(key), SqlValue(""))


def _json_literal(v: Value) -> Any:
    if v.kind == "number":
        number = float(v.text) if any(ch in v.text for ch in ".eE") else int(v.text)
        # Bounded as every database can hold it: SQLite's integers are 64-bit, and JSON
        # has no infinity.
        if not math.isfinite(number) or abs(number) > MAX_NUMBER:
            raise QuerySyntaxError(v.position, f"{v.shown} is too large a number")
        return number
    if v.kind == "word":
        literal = {"true": True, "false": False, "null": None}
        if v.text in literal:
            return literal[v.text]
    return v.text
