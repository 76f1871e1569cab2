"""What every input schema of the API shares: unknown fields refused, text without control
characters, and times in a range Sarafan can compute and store.

`Strict` is the base of every request body. Each of its text values (strings, and the keys and
strings inside lists and JSON objects) is single-line: a NUL, a line break, a tab or any
other control character is refused with a 422 naming the field. PostgreSQL cannot store a
NUL at all, and a line break in a name ends up in an e-mail header. A field whose text may
legitimately span lines says so with `FreeText` (or `FreeJson`); URLs use `Url`, which also
refuses the invisible characters that make a URL lead elsewhere than it reads.

Times: `BoundedDateTime` (2000-01-01 to 2100-01-01) for what a business schedules,
`EventTime` (2000-01-01 to a day from now) for when something happened. Outside them a
date once broke every project's rollup (year 1) or overflowed while being stored (year
9999 with a negative offset).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal, get_args

from django.utils import timezone
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from .validation import CONTROLS, CONTROLS_BUT_LINE_BREAKS, HIDDEN_IN_URL, Pattern

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EARLIEST_DAY, LATEST_DAY = EARLIEST.date(), LATEST.date()
# How far ahead of the server's clock an event may say it happened (clocks differ).
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True)
class TextRule:
    """Which characters a text value may not hold; checks strings, lists and JSON objects
    (their keys always as single-line text). Nested schemas check themselves."""

    refused: Pattern
    message: str

    def __call__(self, value: Any) -> Any:
        if any(_breaks(text, self.refused, key) for text, key in _texts(value)):
            raise PydanticCustomError("control_character", self.message)
        return value


def _breaks(text: str, refused: Pattern, is_key: bool) -> bool:
    return (CONTROLS if is_key else refused).search(text) is not None


def _texts(value: Any, *, key: bool = False) -> Iterator[tuple[str, bool]]:
    if isinstance(value, str):
        yield value, key
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _texts(name, key=True)
            yield from _texts(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _texts(item)


SINGLE_LINE = TextRule(
    CONTROLS, "must not contain control characters (NUL, line breaks, tabs and the like)"
)
MULTILINE = TextRule(
    CONTROLS_BUT_LINE_BREAKS,
    "must not contain control characters other than line breaks and tabs (such as NUL)",
)
URL = TextRule(
    HIDDEN_IN_URL,
    "must not contain control or invisible characters (tabs, line breaks, zero-width or "
    "direction marks and the like)",
)


def _allowed(refused: Pattern) -> str:
    """The OpenAPI pattern of a text without the characters `refused` names."""
    return f"^[^{refused.pattern[1:-1]}]*$"


def url_pattern(form: str) -> str:
    """An OpenAPI pattern of a URL `form`, where HIDDEN stands for the characters no URL holds."""
    return f"^{form.replace('HIDDEN', HIDDEN_IN_URL.pattern[1:-1])}$"


ONE_LINE_PATTERN = _allowed(CONTROLS)
MULTILINE_PATTERN = _allowed(CONTROLS_BUT_LINE_BREAKS)
URL_PATTERN = _allowed(HIDDEN_IN_URL)

# Checked before a field's length or pattern, so that the answer says what is wrong. The
# OpenAPI document marks the fields that may span lines with "x-multiline".
MULTILINE_SCHEMA = Field(json_schema_extra={"x-multiline": True})
FreeText = Annotated[str, BeforeValidator(MULTILINE), MULTILINE_SCHEMA]
"""Text a person writes that may span lines: notes, terms, a CSV file."""
FreeJson = Annotated[dict[str, Any], BeforeValidator(MULTILINE), MULTILINE_SCHEMA]
"""A JSON object of the business's own (attributes, metadata); its strings may span lines."""
Url = Annotated[str, BeforeValidator(URL)]
"""A URL or host name (its field's OpenAPI pattern names the characters it refuses)."""
WEB_URL_PATTERN = url_pattern(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][^\sHIDDEN]*)?")
"""An absolute http(s) URL with a host, as the server checks landing and provider URLs."""
HOST_PATTERN = url_pattern(r"[^/:?#@\s\\.HIDDEN][^/:?#@\s\\HIDDEN]*")
"""A host name without scheme, port or path."""


def describe_text(schema: JsonSchemaValue, pattern: str = ONE_LINE_PATTERN) -> None:
    """Add to a JSON schema the characters its texts may not hold, where it states none: the
    strings, the items of a list of strings, the keys and text values of a JSON object."""
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            describe_text(option, pattern)
        return
    kind = schema.get("type")
    if kind == "string" and not {"pattern", "enum", "const", "format"} & schema.keys():
        schema["pattern"] = pattern
    elif kind == "array" and isinstance(schema.get("items"), dict):
        describe_text(schema["items"], pattern)
    elif kind == "object" and "properties" not in schema:
        schema.setdefault("propertyNames", {"pattern": ONE_LINE_PATTERN})
        if isinstance(schema.get("additionalProperties"), dict):
            describe_text(schema["additionalProperties"], pattern)


STORED_KEY = "sarafan_stored"
STORED = {STORED_KEY: True}
"""Validation context for settings read back from the database (`FraudIn.model_validate(
campaign.fraud, context=STORED)`): what was stored before a rule existed is still read."""


def _names_rule(item: Any) -> bool:
    """Whether a type (or a piece of its metadata) carries a TextRule of its own."""
    if isinstance(item, BeforeValidator):
        return isinstance(item.func, TextRule)
    return any(_names_rule(arg) for arg in get_args(item))


@cache
def _checked_by_default(model: type[BaseModel], field: str) -> bool:
    """Fields typed FreeText, Url and the like are checked by their own rule instead."""
    info = model.model_fields[field]
    return not (_names_rule(info.annotation) or any(map(_names_rule, info.metadata)))


class Strict(BaseModel):
    """A request body: unknown fields refused, every text single-line unless typed otherwise."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The OpenAPI document says which characters each text field refuses."""
        schema = handler(core_schema)
        for field in handler.resolve_ref_schema(schema).get("properties", {}).values():
            describe_text(
                field, MULTILINE_PATTERN if field.get("x-multiline") else ONE_LINE_PATTERN
            )
        return schema

    @field_validator("*", mode="after")
    @classmethod
    def _single_line(cls, value: Any, info: ValidationInfo) -> Any:
        stored = isinstance(info.context, dict) and info.context.get(STORED_KEY)
        if not stored and info.field_name and _checked_by_default(cls, info.field_name):
            SINGLE_LINE(value)
        return value


def _out_of_range(message: str) -> PydanticCustomError:
    return PydanticCustomError("date_out_of_range", message)


def _aware(value: datetime) -> datetime:
    # A time without an offset is compared as UTC; offsets move it by hours, not years.
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


def _bounded(value: datetime) -> datetime:
    if not EARLIEST <= _aware(value) < LATEST:
        raise _out_of_range("must be a time from 2000-01-01 to before 2100-01-01")
    return value


def _event_time(value: datetime) -> datetime:
    if not EARLIEST <= _aware(value) <= timezone.now() + FUTURE_TOLERANCE:
        raise _out_of_range("must be a time from 2000-01-01 to one day from now")
    return value


BoundedDateTime = Annotated[datetime, AfterValidator(_bounded)]
"""A time a business sets (a campaign's start or end): 2000-01-01 to before 2100-01-01."""
EventTime = Annotated[datetime, AfterValidator(_event_time)]
"""When something happened: from 2000-01-01 to one day ahead of the server's clock."""


def day_in_range(day: date) -> bool:
    """Whether a date (an analytics period's end, say) is one Sarafan reports on."""
    return EARLIEST_DAY <= day < LATEST_DAY


# --- answers ----------------------------------------------------------------------------------
# The answers are built as plain JSON values (strings for money and times) and checked against
# these schemas on the way out. Formats and patterns are stated for the OpenAPI document only:
# checking them again on every answer would cost time on the event path for nothing.

MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
DECIMAL_PATTERN = r"^\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*$"


def documented(**schema: Any) -> Any:
    """Metadata that only describes a value in the OpenAPI document."""
    return Field(json_schema_extra=schema)


MoneyStr = Annotated[str, documented(pattern=MONEY_PATTERN, examples=["4990.00"])]
"""An amount as the API answers it: a decimal string with two places."""
DecimalStr = Annotated[str, documented(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
"""A decimal (a percent, a threshold) as the API answers it."""
Timestamp = Annotated[str, documented(format="date-time")]
"""A time as the API answers it: ISO 8601 with its offset."""
Day = Annotated[str, documented(format="date")]
"""A day as the API answers it: YYYY-MM-DD."""
UrlStr = Annotated[str, documented(format="uri")]
"""An absolute URL the API answers."""


class Out(BaseModel):
    """An answer: the fields in the order they are sent; a field a given answer does not
    carry is left out of it (the operations dump what was set, `exclude_unset`)."""

    model_config = ConfigDict(extra="forbid")


class ListOut[T](Out):
    """API.md's lists: one page of objects, and whether more follow."""

    object: Literal["list"]
    data: list[T]
    has_more: bool


ErrorType = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "conflict",
    "idempotency_conflict",
    "rate_limited",
    "server",
]


class ErrorDetail(Out):
    type: ErrorType
    code: str = Field(description="stable, machine-readable: e.g. missing_field, not_found")
    message: str
    param: str | None = Field(description="the offending parameter or field, dotted")


class ErrorOut(Out):
    """Every non-2xx answer (API.md, "Errors")."""

    error: ErrorDetail


# Every operation may answer these: no or a wrong key, a publishable key, an object (named in
# the path, the query or the body) that is not there, a bad parameter, too many requests. Those
# that take a body add a malformed or too large one and a conflict (an Idempotency-Key reused).
_ALWAYS = frozenset({401, 403, 404, 422, 429})
_BODY = frozenset({400, 409, 413})


def answers(ok: dict[int, Any], *, body: bool = False) -> dict[Any, Any]:
    """An operation's `response=`: its 2xx schemas and its errors in ErrorOut's shape."""
    errors = (_ALWAYS | _BODY) if body else _ALWAYS
    return {**ok, **dict.fromkeys(sorted(errors), ErrorOut)}
