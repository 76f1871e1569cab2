"""NUL, line breaks and out-of-range dates through every text and date input of the API.

The cases are generated from the OpenAPI document the API serves: every string of every
request body (nested objects, list items, JSON object keys and values included), every
string path and query parameter, every date-time and date. Each bad value is sent alone in
an otherwise valid request and must answer 422 naming its field — never 500, on SQLite
and on PostgreSQL (which cannot store a NUL at all). Text marked "x-multiline" (notes,
terms, a CSV) keeps its line breaks and tabs and refuses only the other controls.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from sarafan.api import api as ninja_api

PREFIX = "/api/v1/"
SPEC = ninja_api.get_openapi_schema(path_prefix=PREFIX)
SCHEMAS = SPEC["components"]["schemas"]

NUL = "x\x00y"
CRLF = "x\r\ny"
LF = "x\ny"
TAB = "x\ty"
UNIT_SEPARATOR = "x\x1fy"
LINE_SEPARATOR = "x\u2028y"
ONE_LINE_REFUSED = [NUL, CRLF, LF, TAB, UNIT_SEPARATOR, LINE_SEPARATOR]
MULTILINE_REFUSED = [NUL, UNIT_SEPARATOR]
MULTILINE_KEPT = [CRLF, TAB]
BAD_TIMES = [
    "0001-01-01T00:00:00+14:00",  # stored as 1 BC by PostgreSQL
    "0001-01-01T05:00:00+00:00",  # broke every project's rollup
    "9999-12-31T23:59:59-12:00",  # overflows when converted to UTC
    "9999-12-31T23:59:59+00:00",
    "1999-12-31T23:59:59+00:00",
    "2100-01-01T00:00:00+00:00",
]
BAD_DAYS = ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        elif "anyOf" in schema:
            options = [option for option in schema["anyOf"] if option.get("type") != "null"]
            extra = {k: v for k, v in schema.items() if k != "anyOf"}
            schema = {**options[0], **extra}
        else:
            return schema


def _is_money(schema: dict[str, Any]) -> bool:
    return "decimal_places" in schema or "max_digits" in schema


def minimal(schema: dict[str, Any]) -> Any:
    """The smallest valid value of a schema: required properties only, lowest numbers."""
    schema = _resolve(schema)
    if _is_money(schema):
        return "1.00"
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: minimal(properties[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        if schema.get("pattern") == "^[A-Z]{3}$":
            return "RUB"
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return schema.get("minimum", 0.5) if "maximum" in schema else 1
    if kind == "boolean":
        return True
    raise AssertionError(f"no minimal value for {schema}")


@dataclass(frozen=True)
class Text:
    """A place in a body where a text goes: the property names to it, and how it is put."""

    names: tuple[str, ...]
    # "value", "item" (of a list), "key" or "key_value" (of a JSON object)
    place: str
    multiline: bool
    kind: str = "text"  # or "date-time"

    @property
    def param(self) -> str:
        return ".".join(self.names)


def texts(schema: dict[str, Any], names: tuple[str, ...] = ()) -> Iterator[Text]:
    schema = _resolve(schema)
    multiline = bool(schema.get("x-multiline"))
    kind = schema.get("type")
    if _is_money(schema) or "enum" in schema:
        return
    if kind == "string":
        yield Text(names, "value", multiline, schema.get("format", "text"))
    elif kind == "array":
        item = _resolve(schema["items"])
        if item.get("type") == "string":
            yield Text(names, "item", bool(item.get("x-multiline")))
        elif item.get("type") == "object" and "properties" in item:
            for name, prop in item["properties"].items():
                yield from texts(prop, (*names, "0", name))
    elif kind == "object" and "properties" in schema:
        for name, prop in schema["properties"].items():
            yield from texts(prop, (*names, name))
    elif kind == "object":  # a JSON object: its keys, and its values when they are text
        yield Text(names, "key", multiline)
        values = schema.get("additionalProperties")
        if values is True or (
            isinstance(values, dict) and _resolve(values).get("type") == "string"
        ):
            yield Text(names, "key_value", multiline)


def put(body: dict[str, Any], schema: dict[str, Any], text: Text, value: str) -> dict[str, Any]:
    """`body` with `value` at `text`'s place, the objects on the way made minimal."""
    body = json.loads(json.dumps(body))
    target, current = body, _resolve(schema)
    names = list(text.names)
    for name in names[:-1]:
        if name == "0":
            current = _resolve(current["items"])
            target = target[0]
            continue
        current = _resolve(current["properties"][name])
        if name not in target or target[name] is None:
            target[name] = [minimal(current["items"])] if current.get("type") == "array" else {}
            if current.get("type") == "object":
                target[name] = minimal(current)
        target = target[name]
    last = names[-1]
    if text.place == "value":
        target[last] = value
    elif text.place == "item":
        target[last] = ["fine", value]
    elif text.place == "key":
        target[last] = {value: True}
    else:
        target[last] = {"fine": value}
    return body


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    text: Text
    value: str
    refused: bool
    schema: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.text.param}[{self.text.place}]={self.value!r}"


def _bad_values(text: Text) -> Iterator[tuple[str, bool]]:
    if text.kind == "date-time":
        yield from ((value, True) for value in BAD_TIMES)
    elif text.kind == "date":
        yield from ((value, True) for value in BAD_DAYS)
    elif text.multiline and text.place != "key":
        yield from ((value, True) for value in MULTILINE_REFUSED)
        yield from ((value, False) for value in MULTILINE_KEPT)
    else:
        yield from ((value, True) for value in ONE_LINE_REFUSED)


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    return content["application/json"]["schema"] if content else None


def cases() -> Iterator[Case]:
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = _resolve(parameter["schema"])
                if schema.get("type") != "string" or "enum" in schema:
                    continue
                text = Text(
                    (parameter["name"],), parameter["in"], False, schema.get("format", "text")
                )
                for value, refused in _bad_values(text):
                    if text.kind == "text" or parameter["in"] == "query":
                        yield Case(method.upper(), path, text, value, refused)
            body = _body_schema(operation)
            if body is None:
                continue
            if path.endswith("/events/batch"):
                body = {"$ref": "#/components/schemas/EventIn"}
            for text in texts(body):
                for value, refused in _bad_values(text):
                    yield Case(method.upper(), path, text, value, refused, body)


CASES = list(cases())


def _url(case: Case) -> tuple[str, dict[str, str]]:
    path, query = case.path, {}
    for parameter in SPEC["paths"][case.path][case.method.lower()].get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "path":
            value = case.value if case.text.names == (name,) else "x1"
            path = path.replace(
                f"{{{name}}}",
                quote(value, safe="") if parameter["schema"].get("type") == "string" else "1",
            )
        elif parameter["in"] == "query" and case.text.names == (name,):
            query[name] = case.value
    return path, query


def _signup(customer: str) -> dict[str, Any]:
    return {"type": "signup", "customer": {"external_id": customer}}


def _send(api: Any, case: Case) -> Any:
    path, query = _url(case)
    if case.schema is None:
        body = None
        operation = SPEC["paths"][case.path][case.method.lower()]
        if (schema := _body_schema(operation)) is not None:
            body = minimal(schema)
        if case.method == "GET" or case.method == "DELETE":
            return api.request(case.method, path, **query)
        assert not query
        return api.request(case.method, path, body)
    body = put(minimal(case.schema), case.schema, case.text, case.value)
    if case.path.endswith("/events/batch"):
        body = {"events": [_signup("before"), body, _signup("after")]}
    return api.request(case.method, path, body)


def test_the_cases_come_from_the_document_the_api_serves(anon_api):
    served = anon_api.get("openapi.json")
    assert served.status_code == 200
    assert served.json()["paths"].keys() == SPEC["paths"].keys()
    assert served.json()["components"] == SPEC["components"]
    # Every kind of input is there: body texts, nested ones, keys, query and path
    # parameters, multi-line texts and dates.
    params = {(case.path, case.text.param, case.text.place) for case in CASES}
    assert ("/api/v1/events", "customer.name", "value") in params
    assert ("/api/v1/events", "customer.attributes", "key_value") in params
    assert ("/api/v1/campaigns", "rules.0.trigger", "value") not in params  # an enum
    assert ("/api/v1/participants/{external_id}", "external_id", "path") in params
    assert ("/api/v1/analytics/summary", "to", "query") in params
    assert ("/api/v1/pools/{pool_id}/codes", "csv", "value") in params
    assert any(c.text.kind == "date-time" and c.path == "/api/v1/events/batch" for c in CASES)
    assert len(CASES) > 400


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_bad_text_or_date_is_refused_by_name(api, case):
    response = _send(api, case)
    assert response.status_code != 500, response.content
    if case.path.endswith("/events/batch"):
        assert response.status_code == 200, response.content
        first, item, last = response.json()["results"]
        assert "error" not in first and "error" not in last, response.content
        answer, status = item, 422 if "error" in item else 200
    else:
        answer, status = response.json(), response.status_code
    error = answer.get("error") or {}
    if not case.refused:
        assert not (status == 422 and error.get("param") == case.text.param), answer
        return
    assert status == 422, answer
    assert error["type"] == "invalid_request", answer
    param = error["param"] or ""
    assert param == case.text.param or param.startswith(f"{case.text.param}."), answer


@pytest.mark.parametrize("key", ["a\x00b", "a\x01b", "a\tb", "a\x7fb"])
def test_an_idempotency_key_with_a_control_character_is_refused(api, key):
    body = {"type": "signup", "customer": {"external_id": "u-1"}}
    response = api.post("events", body, headers={"Idempotency-Key": key})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request", "Idempotency-Key")
    assert api.get("participants/u-1").status_code == 404  # nothing was recorded


def test_a_query_parameter_named_with_a_control_character_is_refused(api):
    response = api.get("campaigns", **{"a\x00b": "1"})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["param"] == "a\x00b"


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        ("", "missing_body", "The request needs a JSON object as its body."),
        ("[]", "invalid_body", "The request body must be a JSON object."),
        ('"text"', "invalid_body", "The request body must be a JSON object."),
        ("null", "invalid_body", "The request body must be a JSON object."),
    ],
)
def test_a_missing_or_non_object_body_is_told_so(api, raw, code, message):
    response = api.post("events", raw=raw)
    assert response.status_code == 422, response.content
    assert response.json()["error"] == {
        "type": "invalid_request",
        "code": code,
        "message": message,
        "param": None,
    }
