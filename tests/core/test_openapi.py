"""The OpenAPI document describes every answer: named fields, the errors, the key."""

from typing import Any

import pytest

from sarafan.api import api as ninja_api

SPEC = ninja_api.get_openapi_schema(path_prefix="/api/v1/")
SCHEMAS = SPEC["components"]["schemas"]
OPERATIONS = [
    (method.upper(), path, operation)
    for path, operations in SPEC["paths"].items()
    for method, operation in operations.items()
]
ERRORS = {"401", "403", "404", "422", "429"}


def _schema(response: dict[str, Any]) -> dict[str, Any]:
    schema = response["content"]["application/json"]["schema"]
    return SCHEMAS[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema


def test_there_are_all_the_operations():
    assert len(OPERATIONS) == 55


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_each_answer_names_its_fields(method, path, operation):
    responses = {str(code): answer for code, answer in operation["responses"].items()}
    success = [code for code in responses if code.startswith("2")]
    assert success, f"{method} {path} documents no 2xx answer"
    for code in success:
        schema = _schema(responses[code])
        assert schema.get("properties"), f"{method} {path} {code} has no named fields"
    assert responses.keys() >= ERRORS
    for code in responses.keys() - set(success):
        assert responses[code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }
    if "requestBody" in operation:
        assert {"400", "409", "413"} <= responses.keys()
    assert operation["security"] == [{"SecretKey": []}]


def test_the_key_is_a_bearer_scheme():
    assert SPEC["components"]["securitySchemes"]["SecretKey"]["scheme"] == "bearer"


def test_what_the_server_refuses_is_not_offered():
    event_type = SCHEMAS["EventIn"]["properties"]["type"]
    assert event_type["enum"] == ["signup", "order", "refund", "share"]  # no lead yet
    group_by = next(
        p
        for p in SPEC["paths"]["/api/v1/analytics/summary"]["get"]["parameters"]
        if p["name"] == "group_by"
    )
    assert group_by["schema"]["enum"] == ["channel", "partner", "campaign", "day", "week", "month"]
    limit = next(
        p for p in SPEC["paths"]["/api/v1/campaigns"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    amount = SCHEMAS["ManualRewardIn"]["properties"]["amount"]["anyOf"][0]
    assert amount["type"] == "string" and amount["pattern"].startswith("^")
    assert SCHEMAS["EventOut"]["properties"]["occurred_at"]["format"] == "date-time"
    assert SCHEMAS["ParticipantOut"]["properties"]["referral_url"]["format"] == "uri"


def test_answers_keep_their_fields_in_order(api):
    """Validated on the way out, an answer keeps its fields, their order and the optional
    ones a given answer leaves out."""
    created = api.post(
        "campaigns",
        {
            "name": "Percent",
            "landing_url": "https://shop.example/",
            "rules": [
                {
                    "recipient": "referrer",
                    "trigger": "first_order",
                    "kind": "percent",
                    "percent": "5",
                }
            ],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert list(body)[:6] == ["id", "object", "livemode", "name", "status", "is_default"]
    assert body["rules"] == [
        {
            "recipient": "referrer",
            "trigger": "first_order",
            "kind": "percent",
            "hold_days": 0,
            "min_order_amount": None,
            "percent": "5",
            "max_amount": None,
        }
    ]
    event = api.post("events", {"type": "signup", "customer": {"external_id": "u-1"}}).json()
    assert list(event) == [
        "id",
        "object",
        "type",
        "livemode",
        "occurred_at",
        "customer",
        "referral",
        "rewards",
        "fraud",
    ]
