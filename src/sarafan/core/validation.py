"""Pydantic/Ninja validation errors in API.md's error shape, named by the offending field."""

import re
from collections.abc import Sequence
from typing import Any

from .errors import InvalidRequest, error_body

# Ninja prefixes a location with where it came from; the param is what follows.
_LOCATION_PREFIXES = {"body", "query", "path", "header", "payload", "filters", "query_params"}
_CODES = {
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
    "json_invalid": "malformed_json",
}


def _param(loc: Sequence[Any]) -> str | None:
    parts = [str(part) for part in loc]
    while parts and parts[0] in _LOCATION_PREFIXES:
        parts = parts[1:]
    return ".".join(parts) or None


def validation_error(errors: Sequence[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The status and body for the first validation error."""
    first = errors[0] if errors else {}
    param = _param(first.get("loc", ()))
    code = _CODES.get(str(first.get("type", "")), "invalid_value")
    if param is None and code in {"missing_field", "invalid_value"}:
        # The body as a whole: absent (an empty POST), or JSON that is not an object.
        if code == "missing_field":
            return 422, error_body(
                "invalid_request", "missing_body", "The request needs a JSON object as its body."
            )
        return 422, error_body(
            "invalid_request", "invalid_body", "The request body must be a JSON object."
        )
    if code == "unknown_field":
        message = f"Unknown field '{param}'."
    elif code == "missing_field":
        message = f"Missing required field '{param}'."
    elif code == "malformed_json":
        return 400, error_body("invalid_request", code, "The request body is not valid JSON.")
    else:
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
    return 422, error_body("invalid_request", code, message, param)


Pattern = re.Pattern[str]

# Text of one line (names, e-mails, ids, codes, reasons): no C0 or C1 control, no DEL, and
# no line or paragraph separator, which str.splitlines() and e-mail headers break on too.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Text a person writes over several lines (notes, terms, a CSV): tab, line feed and carriage
# return are its own; NUL (which PostgreSQL cannot store) and the other controls are not.
CONTROLS_BUT_LINE_BREAKS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control_character(text: str) -> bool:
    """A control character (or a line separator) in what must be one line of text."""
    return CONTROLS.search(text) is not None


# Unicode category Cc (C0 controls, DEL, C1 controls), and the invisible format characters
# a URL must not hide either: soft hyphen, zero-width spaces and joiners, bidirectional marks
# and overrides, line and paragraph separators, word joiners, BOM. Browsers drop some of them from a host name ("shop.example\u00ad.evil.example" is
# shop.example.evil.example), and the others make a URL read otherwise than it leads. One
# regex search is cheaper than a category lookup per character on the redirect.
HIDDEN_IN_URL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2028\u2029\u2066-\u206f\ufeff]"
)


def has_hidden_character(url: str) -> bool:
    """A control or invisible format character, which no URL Sarafan stores may hold."""
    return HIDDEN_IN_URL.search(url) is not None


def refuse_control_characters(text: str, *, param: str) -> None:
    """A URL (or host) with a control or invisible character is refused: urlsplit silently
    drops TAB, CR and LF, so "https://shop.example\\t.evil.example/" would lead to
    shop.example.evil.example."""
    if has_hidden_character(text):
        raise InvalidRequest(
            f"{param} must not contain control or invisible characters (tabs, line breaks, "
            "zero-width or direction marks and the like).",
            code="invalid_value",
            param=param,
        )
