"""Whether a JSON value can be stored and read back by every database sagascope runs on.

Python's json module accepts what PostgreSQL's jsonb and text columns refuse (NUL
characters, NaN and Infinity, lone UTF-16 surrogates) and nesting that would exhaust a
recursive reader later. Caught here, each is a clear refusal instead of a 500 on insert.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 64


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as text, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (an unpaired \\ud800-\\udfff escape), not valid Unicode"
    return None


def json_problem(value: Any, where: str, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` cannot be stored as JSON, naming the path (`input.items[3].sku`), or None."""
    # Iterative, so a value nested past the interpreter's recursion limit is answered too.
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > max_depth:
            shown = path if len(path) <= 80 else path[:77] + "..."
            return f"{where} is nested more than {max_depth} levels deep (at {shown})"
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"{path} {problem}"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{path} is {item}, which JSON cannot carry; send a finite number"
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = text_problem(str(key))
                if problem:
                    return f"a key in {path} {problem}"
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return None
