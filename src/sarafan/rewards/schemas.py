"""Schemas and serializers of the rewards and certificates API."""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from sarafan.core.money import money_str

from .models import Certificate, Redemption, Reward

PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ManualRewardIn(Strict):
    recipient: str = Field(min_length=1, max_length=200, description="participant external_id")
    amount: PositiveMoney
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    campaign: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", max_length=200)


class DecisionIn(Strict):
    note: str = Field(default="", max_length=500)


class RedeemIn(Strict):
    amount: PositiveMoney
    order_id: str = Field(min_length=1, max_length=200)


def certificate_out(certificate: Certificate, *, with_pin: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": certificate.public_id,
        "object": "certificate",
        "livemode": certificate.livemode,
        "code": certificate.code,
        "brand": certificate.brand,
        "amount": money_str(certificate.amount),
        "balance": money_str(certificate.balance),
        "currency": certificate.currency,
        "expires_at": certificate.expires_at.isoformat(),
        "status": certificate.status,
    }
    if with_pin:
        data["pin"] = certificate.pin
    return data


def reward_detail(reward: Reward) -> dict[str, Any]:
    certificate = getattr(reward, "certificate", None)
    return {
        "id": reward.public_id,
        "object": "reward",
        "livemode": reward.livemode,
        "recipient": reward.recipient.external_id,
        "referral": reward.referral.public_id if reward.referral else None,
        "campaign": reward.campaign.public_id if reward.campaign else None,
        "trigger": reward.trigger,
        "amount": money_str(reward.amount),
        "currency": reward.currency,
        "status": reward.status,
        "available_at": reward.available_at.isoformat(),
        "created_at": reward.created_at.isoformat(),
        "certificate": certificate_out(certificate) if certificate is not None else None,
    }


def redemption_out(redemption: Redemption) -> dict[str, Any]:
    return {
        "order_id": redemption.order_id,
        "amount": money_str(redemption.amount),
        "balance_after": money_str(redemption.balance_after),
        "created_at": redemption.created_at.isoformat(),
    }
