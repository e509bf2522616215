"""The columns a saga list can show, said once: the dashboard's list page, saved views and
the CSV export all choose from COLUMNS. The saga id is always shown: it is the row's link."""

from __future__ import annotations

from sagas.services.queries import InvalidQuery

# name -> heading, in the order a list shows them.
COLUMNS: dict[str, str] = {
    "id": "Saga",
    "type": "Type",
    "status": "Status",
    "correlation_id": "Correlation id",
    "step": "Step",
    "started": "Started",
    "updated": "Updated",
    "finished": "Finished",
    "reason": "Reason",
}
DEFAULT_COLUMNS: tuple[str, ...] = tuple(name for name in COLUMNS if name != "finished")
MAX_COLUMNS_TEXT = 200  # "a,b,c": every name once is far shorter


def parse_columns(text: str, field: str = "columns") -> tuple[str, ...]:
    """Column names from "status,reason" (commas, any order, repeats dropped), in COLUMNS'
    order and always with the id; the defaults for an empty text; InvalidQuery otherwise."""
    text = text.strip()
    if not text:
        return DEFAULT_COLUMNS
    if len(text) > MAX_COLUMNS_TEXT:
        raise InvalidQuery(f"{field} is longer than {MAX_COLUMNS_TEXT} characters", field)
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - set(COLUMNS))
    if unknown:
        raise InvalidQuery(
            f"unknown column {unknown[0][:40]!r}; columns are {', '.join(COLUMNS)}", field
        )
    return tuple(name for name in COLUMNS if name in names or name == "id")


def columns_text(columns: tuple[str, ...]) -> str:
    """The URL form of `columns`: "" for the defaults, so that default links stay short."""
    return "" if tuple(columns) == DEFAULT_COLUMNS else ",".join(columns)
