"""Pydantic schemas of the events API (API.md, "Events")."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from sarafan.core.money import Amount
from sarafan.core.schemas import (
    ErrorOut,
    EventTime,
    FreeJson,
    MoneyStr,
    Out,
    Strict,
    Timestamp,
)
from sarafan.fraud.schemas import RiskOut
from sarafan.participants.schemas import CONSENT, EMAIL, PHONE, Tag

Short = Annotated[str, Field(max_length=500)]


class CustomerIn(Strict):
    external_id: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, json_schema_extra=EMAIL)
    phone: str | None = Field(default=None, max_length=32, json_schema_extra=PHONE)
    name: str | None = Field(default=None, max_length=200)
    attributes: FreeJson | None = None
    tags: list[Tag] | None = None
    consent: dict[str, bool] | None = Field(default=None, json_schema_extra=CONSENT)


class OrderIn(Strict):
    id: str = Field(min_length=1, max_length=200)
    amount: Amount | None = None
    # None: the currency of the campaign the order is judged by (RUB without one).
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    status: Literal["paid", "pending", "cancelled", "refunded"] = "paid"


class ContextIn(Strict):
    visitor_id: Short | None = None
    device_id: Short | None = None
    ip: Short | None = None
    user_agent: Short | None = None
    card_fingerprint: Short | None = None
    click_id: Short | None = None
    referer: Short | None = None


class InviteeIn(Strict):
    email: str = Field(min_length=3, max_length=254, json_schema_extra={"pattern": "@"})


# Lead events arrive with the B2B lead pipeline: until it exists the server refuses them by
# name (unsupported_event_type), so the document lists only the types it accepts.
EVENT_TYPES = ["signup", "order", "refund", "share"]


def _needs(kind: str, *fields: str) -> JsonDict:
    present: JsonDict = {"not": {"type": "null"}}
    return {
        "if": {"properties": {"type": {"const": kind}}},
        "then": {"required": list(fields), "properties": dict.fromkeys(fields, present)},
    }


# What each type needs (the server refuses an event without it, naming the field).
NEEDS: JsonDict = {
    "allOf": [
        _needs("signup", "customer"),
        _needs("order", "customer", "order"),
        _needs("refund", "order"),
        _needs("share", "participant"),
        {
            "if": {
                "properties": {
                    "type": {"const": "order"},
                    "order": {
                        "properties": {"status": {"const": "paid"}},
                    },
                },
            },
            "then": {"properties": {"order": {"required": ["amount"]}}},
        },
    ]
}


class EventIn(Strict):
    model_config = ConfigDict(json_schema_extra=NEEDS)

    type: Annotated[
        Literal["signup", "order", "refund", "share", "lead"],
        WithJsonSchema({"type": "string", "enum": EVENT_TYPES, "title": "Type"}),
    ]
    customer: CustomerIn | None = None
    order: OrderIn | None = None
    referral_code: str | None = Field(default=None, max_length=32)
    campaign: str | None = Field(default=None, max_length=32)
    participant: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=20)
    invitee: InviteeIn | None = None
    context: ContextIn = Field(default_factory=ContextIn)
    occurred_at: EventTime | None = None
    metadata: FreeJson | None = None


class BatchIn(BaseModel):
    """Each item is checked as an EventIn on its own: one bad item is that item's error."""

    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


# --- answers ----------------------------------------------------------------------------------

ReferralStatusName = Literal["pending", "qualified", "rejected", "review"]
RewardStatusName = Literal[
    "pending",
    "review",
    "approved",
    "issued",
    "delivered",
    "redeemed",
    "rejected",
    "cancelled",
    "expired",
]


class EventOrderOut(Out):
    """The order an event is about: amount and whether it counted (order), or its status
    (refund)."""

    id: str
    amount: MoneyStr | None = None
    currency: str | None = None
    first: bool | None = Field(default=None, description="the customer's first paid order")
    qualifies: bool | None = Field(default=None, description="it counts toward rewards")
    status: str | None = None


class EventReferralOut(Out):
    id: str
    referrer: str
    referee: str
    status: ReferralStatusName
    channel: str


class EventRewardOut(Out):
    id: str
    recipient: str
    amount: MoneyStr
    currency: str
    status: RewardStatusName
    available_at: Timestamp


class EventOut(Out):
    """An event's answer, stored with the event: a replay answers it again."""

    # Answers stored by earlier versions are repeated as they were.
    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["event"]
    type: Literal["signup", "order", "refund", "share"]
    livemode: bool
    occurred_at: Timestamp
    customer: str | None
    order: EventOrderOut | None = None
    clawed_back: MoneyStr | None = Field(default=None, description="refund: taken back")
    channel: str | None = Field(default=None, description="share: where it was shared")
    referral: EventReferralOut | None
    rewards: list[EventRewardOut]
    fraud: RiskOut


class BatchOut(Out):
    object: Literal["list"]
    results: list[EventOut | ErrorOut] = Field(description="one per event, in order")
