"""How the API reads JSON bodies and query strings: strictly, so that what a database
cannot store, or a parser cannot read back, is refused with a message before any view."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from sagas.storable import json_problem, text_problem

# Deeper than any saga input may be (MAX_DEPTH), so that limit gets its own message.
MAX_BODY_DEPTH = 100


class MalformedRequest(ValueError):
    """The request body is not JSON the API accepts."""


def _no_constant(name: str) -> Any:
    raise MalformedRequest(f"{name} is not JSON; send a finite number")


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        try:
            data = json.loads(request.body, parse_constant=_no_constant)
        except RecursionError:
            raise MalformedRequest("the body is nested too deeply to read") from None
        except UnicodeDecodeError:
            raise MalformedRequest("the body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise MalformedRequest(f"the body is not valid JSON: {exc}") from None
        problem = json_problem(data, "body", MAX_BODY_DEPTH)
        if problem:
            raise MalformedRequest(problem)
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        for key, values in data.lists():
            for value in [key, *values]:
                problem = text_problem(str(value))
                if problem:
                    raise MalformedRequest(f"query parameter {key!r} {problem}")
        return super().parse_querydict(data, list_fields, request)
