"""The events answers, field by field and byte for byte: a signup, a first paid order, the
same order again (200, its first answer), a refund and a share."""

import json
import re
from typing import Any

from sarafan.tracking.models import Event
from tests.factories import create_campaign, create_referrer, order, signup

AT = "2026-06-01T10:00:00+03:00"
NO_RISK = {"score": 0.0, "decision": "allow", "reasons": [], "details": []}


def _answer(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    # The bytes are those of the JSON in its fields' order, as it was stored for replays.
    assert response.content == json.dumps(body).encode()
    assert Event.objects.get(public_id=body["id"]).response == body
    return body


def _same(body: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal field by field and in the same order, at every level."""
    assert list(body) == list(expected)
    for name, value in expected.items():
        if isinstance(value, dict):
            _same(body[name], value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            assert len(body[name]) == len(value)
            for got, want in zip(body[name], value, strict=True):
                _same(got, want)
        elif isinstance(value, re.Pattern):
            assert value.fullmatch(body[name]), (name, body[name])
        else:
            assert body[name] == value and type(body[name]) is type(value), (name, body[name])


ID = {kind: re.compile(kind + r"_[A-Za-z0-9]{20}") for kind in ("evt", "ref", "rwd")}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")


def _event(type_: str, customer: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": ID["evt"],
        "object": "event",
        "type": type_,
        "livemode": False,
        "occurred_at": AT,
        "customer": customer,
        **fields,
    }


def _referral(status: str) -> dict[str, Any]:
    return {
        "id": ID["ref"],
        "referrer": "u-7",
        "referee": "u-42",
        "status": status,
        "channel": "link",
    }


def _reward(recipient: str, amount: str, status: str) -> dict[str, Any]:
    return {
        "id": ID["rwd"],
        "recipient": recipient,
        "amount": amount,
        "currency": "RUB",
        "status": status,
        "available_at": TIME,
    }


def test_answers_field_by_field(api):
    create_campaign(api)
    code = create_referrer(api, "u-7")["referral_code"]

    joined = _answer(signup(api, "u-42", code, occurred_at=AT), 201)
    _same(
        joined,
        _event(
            "signup",
            "u-42",
            referral=_referral("pending"),
            rewards=[_reward("u-42", "300.00", "issued")],
            fraud=NO_RISK,
        ),
    )

    paid = _answer(order(api, "u-42", "o-1", occurred_at=AT), 201)
    _same(
        paid,
        _event(
            "order",
            "u-42",
            order={
                "id": "o-1",
                "amount": "4990.00",
                "currency": "RUB",
                "first": True,
                "qualifies": True,
            },
            referral=_referral("qualified"),
            rewards=[_reward("u-7", "500.00", "issued")],
            fraud=NO_RISK,
        ),
    )
    assert paid["referral"]["id"] == joined["referral"]["id"]

    again = order(api, "u-42", "o-1", occurred_at=AT)
    assert again.status_code == 200
    assert again.content == json.dumps(paid).encode()

    refunded = api.post("events", {"type": "refund", "order": {"id": "o-1"}, "occurred_at": AT})
    _same(
        _answer(refunded, 201),
        _event(
            "refund",
            "u-42",
            order={"id": "o-1", "status": "refunded"},
            clawed_back="500.00",
            referral=_referral("qualified"),
            rewards=[_reward("u-7", "500.00", "cancelled")],
            fraud=NO_RISK,
        ),
    )

    shared = api.post(
        "events", {"type": "share", "participant": "u-7", "channel": "Telegram", "occurred_at": AT}
    )
    _same(
        _answer(shared, 201),
        _event("share", "u-7", channel="telegram", referral=None, rewards=[], fraud=NO_RISK),
    )
