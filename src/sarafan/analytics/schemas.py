"""Pydantic schemas of the analytics API (API.md, "Analytics")."""

from typing import Annotated

from ninja import Schema
from pydantic import Field, WithJsonSchema

from sarafan.core.schemas import Day, MoneyStr

from .services import GROUPINGS

# A day from 2000-01-01 to 2099-12-31 (the server refuses others by name); empty is absent.
QueryDay = Annotated[
    str | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date", "pattern": "^20[0-9]{2}-"},
                {"type": "string", "maxLength": 0},
            ],
            "description": "YYYY-MM-DD, from 2000-01-01 to 2099-12-31",
        }
    ),
]


class SummaryQuery(Schema):
    """Query parameters; dates stay text here so a bad one is reported under its own name."""

    campaign: str | None = Field(default=None, max_length=32)
    date_from: QueryDay = Field(default=None, alias="from")
    date_to: QueryDay = Field(default=None, alias="to")
    # Checked by the service, which names the groupings in its answer.
    group_by: str | None = Field(default=None, json_schema_extra={"enum": list(GROUPINGS)})


class Period(Schema):
    date_from: Day = Field(alias="from")
    date_to: Day = Field(alias="to")


class Metrics(Schema):
    """The figures of the summary; money is a string with two places."""

    participants: int
    active_referrers: int
    clicks: int
    shares: int
    signups: int
    first_orders: int
    repeat_orders: int
    revenue: MoneyStr
    rewards_cost: MoneyStr
    spend: MoneyStr
    k_factor: float
    cac: MoneyStr
    roi: float
    participation_rate: float
    share_rate: float
    conversion_rate: float


class Group(Metrics):
    """One group's figures; `key` is null for traffic without a value for the grouping."""

    key: str | None


class SummaryOut(Schema):
    period: Period
    totals: Metrics
    groups: list[Group]
