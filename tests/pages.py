"""Reading what a page embeds, and the dates that once turned a page into a 500."""

from __future__ import annotations

import json
import re


def embedded(response, element_id: str):
    """The JSON a page embeds for its script (json_script)."""
    html = response.content.decode()
    pattern = rf'<script id="{element_id}" type="application/json">(.*?)</script>'
    match = re.search(pattern, html, re.S)
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


# Each was a 500: these overflow Python's datetime when turned into UTC; ODD_OFFSET is an
# offset Python takes and PostgreSQL refuses (DataError), now turned into UTC first.
EXTREME_TIMES = ["0001-01-01T00:00+14:00", "9999-12-31T23:59-14:00"]
ODD_OFFSET = "2025-01-01T00:00+23:59"
