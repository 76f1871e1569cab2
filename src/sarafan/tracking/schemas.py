"""Pydantic schemas of the events API (API.md, "Events")."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sarafan.core.money import AsciiDecimal
from sarafan.core.schemas import EventTime, FreeJson, Strict

Short = Annotated[str, Field(max_length=500)]


class CustomerIn(Strict):
    external_id: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    attributes: FreeJson | None = None
    tags: list[str] | None = None
    consent: dict[str, bool] | None = None


class OrderIn(Strict):
    id: str = Field(min_length=1, max_length=200)
    amount: (
        Annotated[Decimal, AsciiDecimal, Field(ge=0, max_digits=14, decimal_places=2)] | None
    ) = None
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
    email: str = Field(min_length=3, max_length=254)


class EventIn(Strict):
    type: Literal["signup", "order", "refund", "share", "lead"]
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
