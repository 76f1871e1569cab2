"""Pydantic schemas of the events API (API.md, "Events")."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from sarafan.core.money import Amount, money_str
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
from sarafan.fraud.services import risk_out
from sarafan.participants.schemas import CONSENT, EMAIL, PHONE, Tag
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward

from .results import OrderFacts, Recorded

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


# --- shaping an answer --------------------------------------------------------------------
# As every answer of the API (core/schemas.py): plain JSON values, checked against EventOut
# once, on the way out.


def event_answer(result: Recorded) -> dict[str, Any]:
    """A new event's answer (EventOut; API.md, "Events"), shaped from what recording it did."""
    event, referral = result.event, result.referral
    names = {}
    if referral is not None:
        names = {
            referral.referrer_id: referral.referrer.external_id,
            referral.referee_id: referral.referee.external_id,
        }
    answer: dict[str, Any] = {
        "id": event.public_id,
        "object": "event",
        "type": event.type,
        "livemode": event.livemode,
        "occurred_at": event.occurred_at.isoformat(),
        "customer": event.participant.external_id if event.participant else None,
    }
    if result.order is not None:
        answer["order"] = _order_answer(result.order)
    if result.clawed_back is not None:
        answer["clawed_back"] = money_str(result.clawed_back)
    if result.channel is not None:
        answer["channel"] = result.channel
    answer["referral"] = _referral_answer(referral)
    answer["rewards"] = [_reward_answer(r, names.get(r.recipient_id, "")) for r in result.rewards]
    answer["fraud"] = _fraud_answer(referral, result.reasons)
    return answer


def _order_answer(order: OrderFacts) -> dict[str, Any]:
    """EventOrderOut: an order event's amount and whether it counted, or a refund's status."""
    if order.status is not None:
        return {"id": order.id, "status": order.status}
    return {
        "id": order.id,
        "amount": money_str(order.amount),
        "currency": order.currency,
        "first": order.first,
        "qualifies": order.qualifies,
    }


def _referral_answer(referral: Referral | None) -> dict[str, Any] | None:
    if referral is None:
        return None
    return {
        "id": referral.public_id,
        "referrer": referral.referrer.external_id,
        "referee": referral.referee.external_id,
        "status": referral.status,
        "channel": referral.channel,
    }


def _reward_answer(reward: Reward, recipient_external_id: str) -> dict[str, Any]:
    return {
        "id": reward.public_id,
        "recipient": recipient_external_id,
        "amount": money_str(reward.amount),
        "currency": reward.currency,
        "status": reward.status,
        "available_at": reward.available_at.isoformat(),
    }


def _fraud_answer(referral: Referral | None, extra_reasons: tuple[str, ...]) -> dict[str, Any]:
    """API.md's `fraud` object: the referral's risk plus why rewards were not created."""
    reasons = list(referral.risk_reasons) if referral is not None else []
    reasons += [reason for reason in extra_reasons if reason not in reasons]
    if referral is None:
        return risk_out(0.0, "allow", reasons, {})
    return risk_out(referral.risk_score, referral.risk_decision, reasons, referral.risk_details)
