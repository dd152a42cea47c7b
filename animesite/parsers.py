"""The project's JSON parser (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``): DRF's, plus the three
ways a well-formed JSON body still broke a view further down, each answered here as a 400:

- nesting deeper than ``MAX_DEPTH`` (50,000 ``[`` made Python's decoder raise RecursionError, a
  500; anything deeper than a few levels is no request any endpoint takes);
- a lone surrogate (``"\\ud800"``): valid JSON, but not text: it fails wherever the string is
  encoded (the database, the tokenizer, the response), so it is refused naming the field;
- a number too large for a float (``1e400`` reads as infinity, which no field accepts and the
  strict JSON renderer cannot write back), refused naming the field.

Every view reading JSON gets this (compat's views included: they keep the default parsers).
The messages never quote the offending value: it could not be written in the response.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.settings import api_settings

# The deepest body any endpoint takes is 2 levels ({"genres": [...]}); room to spare.
MAX_DEPTH = 32
SURROGATE = (
    "Must be valid Unicode text: it holds an unpaired surrogate escape (\\ud800-\\udfff), which is not a character."
)
NOT_FINITE = "Must be a number in range: this one is too large to hold (it reads as infinity)."
TOO_DEEP = f"JSON parse error - nested more than {MAX_DEPTH} levels deep."


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fault(value: Any, depth: int) -> str:
    """What is wrong inside ``value`` (found at ``depth``), or ""; iterative, so no recursion
    limit applies. Raises ``ParseError`` past ``MAX_DEPTH``."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                return SURROGATE
        elif isinstance(item, float):
            if not math.isfinite(item):
                return NOT_FINITE
        elif isinstance(item, dict | list):
            if level >= MAX_DEPTH:
                raise ParseError(TOO_DEEP)
            children = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, child in children:
                if key is not None and not _is_text(key):
                    return SURROGATE
                stack.append((child, level + 1))
    return ""


def json_faults(data: Any) -> dict[str, list[str]]:
    """Each top-level field whose value holds a lone surrogate or an infinite number, with the
    message; a key that is not text itself, or a body that is not an object, under
    ``non_field_errors``."""
    errors: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = key if _is_text(key) else api_settings.NON_FIELD_ERRORS_KEY
            fault = SURROGATE if name != key else _fault(value, 1)
            if fault:
                errors.setdefault(name, [fault])
    else:
        fault = _fault(data, 0)
        if fault:
            errors[api_settings.NON_FIELD_ERRORS_KEY] = [fault]
    return errors


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        errors = json_faults(data)
        if errors:
            raise ValidationError(errors)
        return data
