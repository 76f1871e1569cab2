"""Pydantic schemas of the campaigns API (API.md, "Campaigns")."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.config import JsonDict

from sarafan.core.money import Amount, Percent, PositiveAmount, money_str
from sarafan.core.schemas import (
    HOST_PATTERN,
    STORED,
    WEB_URL_PATTERN,
    BoundedDateTime,
    DecimalStr,
    MoneyStr,
    Out,
    Strict,
    Timestamp,
    Url,
)

from .models import Campaign, CampaignStatus, RewardKind, RewardRule

Money = Amount
PositiveMoney = PositiveAmount


class TierIn(Strict):
    from_: int = Field(alias="from", ge=1)
    amount: PositiveMoney


class RuleIn(Strict):
    recipient: Literal["referrer", "referee"]
    trigger: Literal["signup", "first_order", "repeat_order", "lead_won"]
    kind: Literal["fixed", "percent", "tiered"]
    amount: PositiveMoney | None = None
    percent: Percent | None = None
    max_amount: PositiveMoney | None = None
    min_order_amount: Money | None = None
    hold_days: int = Field(default=0, ge=0, le=365)
    tiers: list[TierIn] | None = None


class LimitsIn(Strict):
    per_referrer_per_month: int | None = Field(default=None, ge=1)
    per_referrer_amount_per_month: PositiveMoney | None = None
    budget: PositiveMoney | None = None
    max_rewards: int | None = Field(default=None, ge=1)


class ChoiceIn(Strict):
    """Recipients pick a brand among the pools' brands; the default applies after `days`."""

    days: int = Field(default=7, ge=1, le=90)
    default_brand: str | None = Field(default=None, max_length=32)


class BankIn(Strict):
    """Small rewards accumulate until together they reach `min_amount`, then one certificate."""

    min_amount: PositiveMoney


class RewardSourceIn(Strict):
    type: Literal["internal", "pool", "issuer"] = "internal"
    pool: str | None = Field(default=None, max_length=32)
    pools: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=50)
    issuer: str | None = Field(default=None, max_length=32)
    choice: ChoiceIn | None = None
    bank: BankIn | None = None


Share = Annotated[float, Field(ge=0, le=1)]


class FraudIn(Strict):
    """A campaign's anti-fraud settings (README, "Anti-fraud"); every field optional."""

    # Reason code → weight 0..1, replacing the default weight of that reason.
    weights: dict[Annotated[str, Field(max_length=40)], Share] = Field(
        default_factory=dict, max_length=40
    )
    review_at: Share = 0.5
    block_at: Share = 0.9
    # Click parameters that mark paid-ad traffic; None: the installation's default list.
    paid_ad_params: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=50
    )
    # Sites (coupon, cashback) whose clicks never attribute; subdomains included.
    banned_referrer_domains: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list, max_length=500
    )
    # Cases left in review this many days are decided by review_deadline_action.
    review_deadline_days: int | None = Field(default=None, ge=1, le=365)
    review_deadline_action: Literal["approve", "reject"] = "reject"
    # A referrer whose referred orders are refunded above this share (once they have at
    # least refund_rate_min_orders) is flagged high_refund_rate.
    refund_rate_threshold: Share = 0.25
    refund_rate_min_orders: int = Field(default=4, ge=1, le=10_000)


# The server checks these (naming the field in its answer); the document describes them.
LANDING_URL: JsonDict = {"pattern": WEB_URL_PATTERN}
Host = Annotated[Url, Field(max_length=253, json_schema_extra={"pattern": HOST_PATTERN})]


class CampaignIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    landing_url: Url = Field(min_length=1, max_length=2000, json_schema_extra=LANDING_URL)
    allowed_redirect_hosts: list[Host] = Field(default_factory=list, max_length=50)
    attribution_window_days: int = Field(default=30, ge=1, le=365)
    new_customers_only: bool = True
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    status: Literal["draft", "active"] = "active"
    starts_at: BoundedDateTime | None = None
    ends_at: BoundedDateTime | None = None
    rules: list[RuleIn] = Field(default_factory=list, max_length=50)
    limits: LimitsIn = Field(default_factory=LimitsIn)
    reward_source: RewardSourceIn = Field(default_factory=RewardSourceIn)
    fraud: FraudIn = Field(default_factory=FraudIn)


class CampaignPatch(Strict):
    """Every field optional; `rules` and `limits`, when sent, replace the old ones whole."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    landing_url: Url | None = Field(
        default=None, min_length=1, max_length=2000, json_schema_extra=LANDING_URL
    )
    allowed_redirect_hosts: list[Host] | None = Field(default=None, max_length=50)
    attribution_window_days: int | None = Field(default=None, ge=1, le=365)
    new_customers_only: bool | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    status: Literal["draft", "active", "paused", "ended"] | None = None
    starts_at: BoundedDateTime | None = None
    ends_at: BoundedDateTime | None = None
    rules: list[RuleIn] | None = Field(default=None, max_length=50)
    limits: LimitsIn | None = None
    reward_source: RewardSourceIn | None = None
    # Replaced whole when sent, like limits.
    fraud: FraudIn | None = None


class TierOut(Out):
    from_: int = Field(alias="from")
    amount: DecimalStr


class RuleOut(Out):
    """A rule as answered: `amount` for fixed, `percent` and `max_amount` for percent,
    `tiers` for tiered."""

    recipient: Literal["referrer", "referee"]
    trigger: Literal["signup", "first_order", "repeat_order", "lead_won"]
    kind: RewardKind
    hold_days: int
    min_order_amount: MoneyStr | None
    amount: MoneyStr | None = None
    percent: DecimalStr | None = None
    max_amount: MoneyStr | None = None
    tiers: list[TierOut] | None = None


class LimitsOut(Out):
    per_referrer_per_month: int | None
    per_referrer_amount_per_month: MoneyStr | None
    budget: MoneyStr | None
    max_rewards: int | None


class ChoiceOut(Out):
    days: int
    default_brand: str | None


class BankOut(Out):
    min_amount: DecimalStr


class RewardSourceOut(Out):
    type: Literal["internal", "pool", "issuer"]
    bank: BankOut | None = None
    issuer: str | None = None
    pool: str | None = None
    pools: list[str] | None = None
    choice: ChoiceOut | None = None


class FraudOut(Out):
    weights: dict[str, float]
    review_at: float
    block_at: float
    paid_ad_params: list[str] | None
    banned_referrer_domains: list[str]
    review_deadline_days: int | None
    review_deadline_action: Literal["approve", "reject"]
    refund_rate_threshold: float
    refund_rate_min_orders: int


class CampaignStatsOut(Out):
    spent: MoneyStr
    rewards_count: int


class CampaignOut(Out):
    id: str
    object: Literal["campaign"]
    livemode: bool
    name: str
    status: CampaignStatus
    is_default: bool
    landing_url: str = Field(description="as it was given")
    allowed_redirect_hosts: list[str]
    attribution_window_days: int
    new_customers_only: bool
    currency: str
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    rules: list[RuleOut]
    limits: LimitsOut
    reward_source: RewardSourceOut
    fraud: FraudOut
    stats: CampaignStatsOut
    created_at: Timestamp
    updated_at: Timestamp


def _opt_money(value: Decimal | None) -> str | None:
    return None if value is None else money_str(value)


def rule_out(rule: RewardRule) -> dict[str, Any]:
    data: dict[str, Any] = {
        "recipient": rule.recipient,
        "trigger": rule.trigger,
        "kind": rule.kind,
        "hold_days": rule.hold_days,
        "min_order_amount": _opt_money(rule.min_order_amount),
    }
    if rule.kind == "fixed":
        data["amount"] = _opt_money(rule.amount)
    elif rule.kind == "percent":
        data["percent"] = (
            format(rule.percent.normalize(), "f") if rule.percent is not None else None
        )
        data["max_amount"] = _opt_money(rule.max_amount)
    else:
        data["tiers"] = rule.tiers
    return data


def campaign_out(campaign: Campaign, *, is_default: bool = False) -> dict[str, Any]:
    return {
        "id": campaign.public_id,
        "object": "campaign",
        "livemode": campaign.livemode,
        "name": campaign.name,
        "status": campaign.status,
        "is_default": is_default,
        "landing_url": campaign.landing_url,
        "allowed_redirect_hosts": campaign.allowed_redirect_hosts,
        "attribution_window_days": campaign.attribution_window_days,
        "new_customers_only": campaign.new_customers_only,
        "currency": campaign.currency,
        "starts_at": campaign.starts_at.isoformat() if campaign.starts_at else None,
        "ends_at": campaign.ends_at.isoformat() if campaign.ends_at else None,
        "rules": [rule_out(rule) for rule in campaign.rules.all()],
        "limits": {
            "per_referrer_per_month": campaign.limit_per_referrer_per_month,
            "per_referrer_amount_per_month": _opt_money(
                campaign.limit_per_referrer_amount_per_month
            ),
            "budget": _opt_money(campaign.budget),
            "max_rewards": campaign.max_rewards,
        },
        "reward_source": campaign.reward_source or {"type": "internal"},
        "fraud": FraudIn.model_validate(campaign.fraud or {}, context=STORED).model_dump(
            mode="json"
        ),
        "stats": {"spent": money_str(campaign.spent), "rewards_count": campaign.rewards_count},
        "created_at": campaign.created_at.isoformat(),
        "updated_at": campaign.updated_at.isoformat(),
    }
