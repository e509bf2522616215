"""The difference between two JSON documents, as the audit trail and the edit form show it."""

from __future__ import annotations

from typing import Any

MISSING = object()


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """Changes from `before` to `after`: [{"path", "op", "before", "after"}], objects key by
    key (paths like `items.0.qty` are not used: a changed list is one change)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            old, new = before.get(key, MISSING), after.get(key, MISSING)
            if old is MISSING:
                changes.append({"path": sub, "op": "added", "before": None, "after": new})
            elif new is MISSING:
                changes.append({"path": sub, "op": "removed", "before": old, "after": None})
            else:
                changes.extend(diff(old, new, sub))
        return changes
    if before == after and type(before) is type(after):
        return []
    return [{"path": path or "(root)", "op": "changed", "before": before, "after": after}]
