"""Sensitive fields: what a saga type marks as such, masked copies for every face that shows
saga data, and the keyed hash (fingerprint) that search compares for equality.

A definition says `sensitive = ["card_number", "customer.email", "result.charge.token",
"result.*.iban"]`: a dotted path into the input, or `result.<step>.<path>` into one step's
result (`*` for every step). A path that meets a list applies to each of its items. Values
are stored whole (the steps need them); only copies leaving the service are masked.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from sagas.exceptions import SagaDefinitionError
from sagas.registry import registry

MARKER = "•••• (sensitive)"
EVERY_STEP = "*"
MAX_SEGMENTS = 8  # as deep as the search language reads (saga_query.syntax.MAX_PATH)
_KEY_LABEL = b"sagascope.sensitive.v1"

Path = tuple[str, ...]


@dataclass(frozen=True)
class SensitivePaths:
    """A saga type's sensitive paths: into its input, and into step results by step name."""

    input: tuple[Path, ...] = ()
    results: tuple[tuple[str, Path], ...] = ()  # (step name or "*", path in its result)

    def __bool__(self) -> bool:
        return bool(self.input or self.results)

    def names(self) -> list[str]:
        """The fields as the search language names them: input.x.y, result.step.x."""
        return [".".join(("input", *p)) for p in self.input] + [
            ".".join(("result", step, *p)) for step, p in self.results
        ]

    def for_step(self, step: str) -> list[Path]:
        return [p for s, p in self.results if s in (step, EVERY_STEP)]


NONE = SensitivePaths()


def parse(saga_name: str, step_names: Iterable[str], declared: Any) -> SensitivePaths:
    """The paths of `sensitive = [...]`, or SagaDefinitionError naming the bad one."""
    if declared is None:
        return NONE
    if isinstance(declared, str) or not isinstance(declared, (list, tuple, set, frozenset)):
        raise SagaDefinitionError(
            f"saga '{saga_name}': `sensitive` must be a list of paths, "
            f'like ["card_number", "customer.email"], not {declared!r}'
        )
    steps = set(step_names)
    inputs: list[Path] = []
    results: list[tuple[str, Path]] = []
    for entry in declared:
        where = f"saga '{saga_name}': sensitive path {entry!r}"
        if not isinstance(entry, str):
            raise SagaDefinitionError(f"{where} must be a string")
        parts = tuple(entry.split("."))
        every = parts[0] == "result" and len(parts) > 1 and parts[1] == EVERY_STEP
        named = [p for i, p in enumerate(parts) if not (every and i == 1)]
        if len(parts) > MAX_SEGMENTS or any(not _segment_ok(p) for p in named):
            raise SagaDefinitionError(
                f"{where} must be dotted names (letters, digits, _ or -), at most "
                f"{MAX_SEGMENTS} deep, like 'customer.email' or 'result.charge.token'"
            )
        if parts[0] == "result":
            if len(parts) < 3:
                raise SagaDefinitionError(
                    f"{where} needs a step and a field: 'result.<step>.<field>' "
                    "('result.*.<field>' for every step)"
                )
            if parts[1] != EVERY_STEP and parts[1] not in steps:
                raise SagaDefinitionError(
                    f"{where} names no step of this saga; steps are {', '.join(step_names)}"
                )
            results.append((parts[1], parts[2:]))
        else:
            inputs.append(parts)
    return SensitivePaths(tuple(dict.fromkeys(inputs)), tuple(dict.fromkeys(results)))


def _segment_ok(part: str) -> bool:
    return bool(part) and "__" not in part and all(c.isalnum() or c in "_-" for c in part)


def paths_of(definition: Any) -> SensitivePaths:
    """The sensitive paths of a Saga class, or of a saga type by name (none if unknown)."""
    if isinstance(definition, str):
        definition = registry.find(definition)
    return getattr(definition, "sensitive_paths", NONE) if definition is not None else NONE


def mask_input(definition: Any, data: Any) -> Any:
    """A copy of a saga's input with its sensitive values replaced by MARKER."""
    return _masked(data, paths_of(definition).input)


def mask_results(definition: Any, results: Any) -> Any:
    """A copy of a saga's results (step name -> result) with sensitive values masked."""
    paths = paths_of(definition)
    if not paths.results or not isinstance(results, Mapping):
        return results
    return {step: _masked(value, paths.for_step(step)) for step, value in results.items()}


def mask_result(definition: Any, step: str, result: Any) -> Any:
    """A copy of one step's result (an attempt's) with its sensitive values masked."""
    return _masked(result, paths_of(definition).for_step(step))


def mask_detail(definition: Any, detail: Any) -> Any:
    """An operator action's detail with the input it holds masked: the input before and
    after an edit, and the diff's values at sensitive paths."""
    paths = paths_of(definition).input
    if not paths or not isinstance(detail, Mapping):
        return detail
    out = dict(detail)
    for name in ("input_before", "input_after"):
        if name in out:
            out[name] = _masked(out[name], paths)
    if isinstance(out.get("input_diff"), list):
        out["input_diff"] = [_masked_change(c, paths) for c in out["input_diff"]]
    return out


def mask_message_body(definition: Any, body: Any, step: str = "") -> Any:
    """An outbox message's body (for archives and other copies), masked as well as its
    shape tells: a command's default body ({"input", "results"}), a reply's
    ({"status", "result"}, `step` naming the step it answers), or a step's own `payload`
    (the input's paths applied to it: payloads usually copy input fields by name)."""
    if not isinstance(body, Mapping):
        return body
    out = dict(body)
    if "input" in out or "results" in out:
        if "input" in out:
            out["input"] = mask_input(definition, out["input"])
        if "results" in out:
            out["results"] = mask_results(definition, out["results"])
        return out
    if "result" in out and "status" in out:
        paths = paths_of(definition)
        steps = [p for s, p in paths.results if not step or s in (step, EVERY_STEP)]
        out["result"] = _masked(out["result"], steps)
        return out
    return mask_input(definition, out)


def _masked_change(change: Any, paths: tuple[Path, ...]) -> Any:
    """One diff row ({path, op, before, after}): values masked where its path is, or lies
    under or above, a sensitive path."""
    if not isinstance(change, Mapping):
        return change
    at = tuple(str(change.get("path", "")).split("."))
    out = dict(change)
    for path in paths:
        if at[: len(path)] == path:  # the sensitive field itself, or inside it
            out.update(before=_hide(out.get("before")), after=_hide(out.get("after")))
        elif path[: len(at)] == at:  # a change that holds the field
            rest = path[len(at) :]
            out.update(before=_masked(out.get("before"), (rest,)))
            out.update(after=_masked(out.get("after"), (rest,)))
    return out


def _hide(value: Any) -> Any:
    return None if value is None else MARKER


def _masked(data: Any, paths: Iterable[Path]) -> Any:
    paths = list(paths)
    if not paths or not isinstance(data, (Mapping, list)):
        return data
    out = copy.deepcopy(data)
    for path in paths:
        _mask_in(out, path)
    return out


def _mask_in(node: Any, path: Path) -> None:
    if isinstance(node, list):
        for item in node:
            _mask_in(item, path)
        return
    if not isinstance(node, dict) or not path:
        return
    head, rest = path[0], path[1:]
    if head not in node:
        return
    if rest:
        _mask_in(node[head], rest)
    elif node[head] is not None:
        node[head] = MARKER


def restore(definition: Any, edited: Any, original: Any) -> Any:
    """An operator's edited input with each MARKER left at a sensitive path replaced by the
    original value: the edit form shows masked values, and sending them back unchanged
    keeps what was stored (a new value replaces it)."""
    paths = paths_of(definition).input
    if not paths or not isinstance(edited, dict):
        return edited
    out = copy.deepcopy(edited)
    for path in paths:
        _restore_in(out, original, path)
    return out


def _restore_in(node: Any, original: Any, path: Path) -> None:
    if isinstance(node, list):
        olds = original if isinstance(original, list) else []
        for index, item in enumerate(node):
            _restore_in(item, olds[index] if index < len(olds) else None, path)
        return
    if not isinstance(node, dict) or path[0] not in node:
        return
    old = original.get(path[0]) if isinstance(original, dict) else None
    if len(path) > 1:
        _restore_in(node[path[0]], old, path[1:])
    elif node[path[0]] == MARKER and old is not None:
        node[path[0]] = old


MIN_SCRUBBED = 4  # shorter values ("1", "FR") would mask ordinary words in any text


def scrub(definition: Any, text: str, input: Any, results: Any = None) -> str:
    """`text` (an error message, a traceback) with each sensitive value of this saga's input
    and results that it quotes replaced by MARKER: a step that writes the card number into
    its exception must not put it on every page that shows errors."""
    paths = paths_of(definition)
    if not paths or not text:
        return text
    values: set[str] = set()
    for path in paths.input:
        _collect(input, path, values)
    if isinstance(results, Mapping):
        for step, result in results.items():
            for path in paths.for_step(step):
                _collect(result, path, values)
    for value in sorted(values, key=len, reverse=True):  # longest first: no half-masked value
        text = text.replace(value, MARKER)
    return text


def _collect(node: Any, path: Path, into: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, path, into)
        return
    if not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) > 1:
        _collect(node[path[0]], path[1:], into)
        return
    value = node[path[0]]
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        if len(text) >= MIN_SCRUBBED:
            into.add(text)


def contains_marker(data: Any) -> bool:
    """Whether MARKER is anywhere in `data` (an input that would store the mask itself)."""
    if isinstance(data, dict):
        return any(contains_marker(v) for v in data.values())
    if isinstance(data, list):
        return any(contains_marker(v) for v in data)
    return data == MARKER


def key() -> bytes:
    """The HMAC key: SAGASCOPE_SENSITIVE_KEY, else one derived from SECRET_KEY (the deploy
    check refuses a published or weak SECRET_KEY outside DEBUG, sagas/checks.py)."""
    configured = str(getattr(settings, "SAGASCOPE_SENSITIVE_KEY", "") or "")
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), _KEY_LABEL, hashlib.sha256).digest()


def fingerprint(value: Any) -> str:
    """A keyed hash (HMAC-SHA256, hex) of a JSON value: equal values, equal fingerprints;
    without the key it tells nothing of the value. 1000 and "1000" differ, as in search."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key(), text.encode(), hashlib.sha256).hexdigest()


def input_hashes(definition: Any, data: Any) -> dict[str, str]:
    """The fingerprints search compares, by field name ("input.customer.email"), of each
    sensitive input value found (a value inside a list is not searchable)."""
    found: dict[str, str] = {}
    for path in paths_of(definition).input:
        node = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None and not isinstance(node, (dict, list)):
            found[".".join(("input", *path))] = fingerprint(node)
    return found
