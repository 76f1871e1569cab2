"""Schemas and serializers of the rewards and certificates API."""

from typing import Any, Literal

from pydantic import Field

from sarafan.core.circuit import CircuitState
from sarafan.core.money import PositiveAmount, money_str
from sarafan.core.schemas import FreeText, MoneyStr, Out, Strict, Timestamp

from .models import Brand, Certificate, Redemption, Reward, RewardEvent, RewardStatus, Waiting

PositiveMoney = PositiveAmount


class ManualRewardIn(Strict):
    recipient: str = Field(
        min_length=1, max_length=200, description="participant external_id", examples=["u-7"]
    )
    amount: PositiveMoney
    # None: the campaign's currency (RUB without a campaign).
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    campaign: str | None = Field(default=None, max_length=32)
    note: FreeText = Field(default="", max_length=200)


class DecisionIn(Strict):
    note: FreeText = Field(default="", max_length=500)


class BrandChoiceIn(Strict):
    brand: str = Field(min_length=1, max_length=32, description="brd_… id of an offered brand")


class RedeemIn(Strict):
    amount: PositiveMoney
    order_id: str = Field(min_length=1, max_length=200)


class CertificateOut(Out):
    id: str
    object: Literal["certificate"]
    livemode: bool
    kind: str
    code: str
    brand: str
    amount: MoneyStr
    balance: MoneyStr
    currency: str
    expires_at: Timestamp
    status: str
    pin: str | None = Field(default=None, description="on the reward only, never by code")


class WaitingOut(Out):
    """Why an approved reward is not issued yet, and what happens next."""

    reason: Waiting
    message: str
    choose_by: Timestamp | None
    next_attempt_at: Timestamp | None
    attempts: int
    last_error: str | None


class HistoryOut(Out):
    type: str = Field(description="reward.<status>")
    from_: RewardStatus | None = Field(alias="from")
    to: RewardStatus
    actor: str
    note: str
    at: Timestamp


class BrandOptionOut(Out):
    id: str
    name: str
    logo_url: str | None


class RewardOut(Out):
    id: str
    object: Literal["reward"]
    livemode: bool
    recipient: str
    referral: str | None
    campaign: str | None
    trigger: str
    amount: MoneyStr
    currency: str
    status: RewardStatus
    available_at: Timestamp
    issued_at: Timestamp | None
    created_at: Timestamp
    brand: str | None
    waiting: WaitingOut | None
    banked_into: str | None
    certificate: CertificateOut | None
    history: list[HistoryOut] | None = Field(default=None, description="when read one by one")
    brand_options: list[BrandOptionOut] | None = Field(
        default=None, description="when read one by one: the brands the recipient may choose"
    )


class DeliveryOut(Out):
    object: Literal["delivery"]
    reward: str
    kind: str
    status: str
    error: str | None
    created_at: Timestamp


class RedemptionOut(Out):
    order_id: str
    amount: MoneyStr
    balance_after: MoneyStr
    created_at: Timestamp


class RedeemOut(Out):
    certificate: CertificateOut
    redemption: RedemptionOut


class BrandOut(Out):
    id: str
    object: Literal["brand"]
    livemode: bool
    name: str
    logo_url: str | None
    terms: str
    currency: str
    created_at: Timestamp


class StockOut(Out):
    available: int
    allocated: int
    expired: int


class PoolOut(Out):
    id: str
    object: Literal["pool"]
    livemode: bool
    brand: str
    denomination: MoneyStr
    currency: str
    stock: StockOut
    low_stock_threshold: int
    low_stock: bool
    created_at: Timestamp


class RowErrorOut(Out):
    row: int
    code_hint: str = Field(description="the code's last characters only")
    error: str
    message: str


class UploadReportOut(Out):
    rows: int
    accepted: int
    rejected: int
    errors: list[RowErrorOut]
    dry_run: bool
    batch: str | None


class CircuitOut(Out):
    state: CircuitState
    failures: int
    open_until: Timestamp | None
    last_error: str | None
    last_success_at: Timestamp | None


class IssuerOut(Out):
    id: str
    object: Literal["issuer"]
    livemode: bool
    name: str
    url: str
    brand: str | None
    timeout_seconds: float
    max_attempts: int
    has_token: bool
    circuit: CircuitOut
    created_at: Timestamp


def certificate_out(certificate: Certificate, *, with_pin: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": certificate.public_id,
        "object": "certificate",
        "livemode": certificate.livemode,
        "kind": certificate.kind,
        "code": certificate.code_value(),
        "brand": certificate.brand,
        "amount": money_str(certificate.amount),
        "balance": money_str(certificate.balance),
        "currency": certificate.currency,
        "expires_at": certificate.expires_at.isoformat(),
        "status": certificate.status,
    }
    if with_pin:
        data["pin"] = certificate.pin_value()
    return data


# The API's explanation of each wait (the console shows the translated labels).
WAITING_MESSAGES: dict[str, str] = {
    Waiting.CHOICE: "The recipient has not chosen the certificate's brand yet; the default "
    "brand applies after choose_by.",
    Waiting.POOL_EMPTY: "The pool has no codes of this amount left; the reward is issued as "
    "soon as codes are uploaded.",
    Waiting.ISSUER: "The external issuer is being asked; the next attempt is at next_attempt_at.",
    Waiting.ISSUER_FAILED: "The external issuer refused or kept failing; retry the reward once "
    "the cause is fixed.",
    Waiting.TAX_DETAILS: "Past the yearly gift-tax threshold: the reward is issued once the "
    "recipient's tax details are recorded.",
    Waiting.BANK: "Kept in the reward bank until the recipient's banked rewards reach its minimum.",
}


def _waiting(reward: Reward) -> dict[str, Any] | None:
    if reward.status != RewardStatus.APPROVED or not reward.waiting:
        return None
    return {
        "reason": reward.waiting,
        "message": WAITING_MESSAGES.get(reward.waiting, ""),
        "choose_by": reward.choose_by.isoformat() if reward.choose_by else None,
        "next_attempt_at": reward.next_attempt_at.isoformat() if reward.next_attempt_at else None,
        "attempts": reward.attempts,
        "last_error": reward.last_error or None,
    }


def reward_detail(reward: Reward) -> dict[str, Any]:
    certificate = reward.paying_certificate()
    banked_into = reward.banked_into
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
        "issued_at": reward.issued_at.isoformat() if reward.issued_at else None,
        "created_at": reward.created_at.isoformat(),
        "brand": reward.brand.public_id if reward.brand else None,
        "waiting": _waiting(reward),
        "banked_into": banked_into.public_id if banked_into is not None else None,
        "certificate": certificate_out(certificate) if certificate is not None else None,
    }


def history_out(event: RewardEvent) -> dict[str, Any]:
    return {
        "type": event.event_type,
        "from": event.from_status or None,
        "to": event.to_status,
        "actor": event.actor,
        "note": event.note,
        "at": event.created_at.isoformat(),
    }


def brand_out(brand: Brand, *, option: bool = False) -> dict[str, Any]:
    """A brand as the API answers it (BrandOut), or as one of the brands a reward's
    recipient may choose (BrandOptionOut: its id, name and logo only)."""
    logo_url = brand.logo_url or None
    if option:
        return {"id": brand.public_id, "name": brand.name, "logo_url": logo_url}
    return {
        "id": brand.public_id,
        "object": "brand",
        "livemode": brand.livemode,
        "name": brand.name,
        "logo_url": logo_url,
        "terms": brand.terms,
        "currency": brand.currency,
        "created_at": brand.created_at.isoformat(),
    }


def redemption_out(redemption: Redemption) -> dict[str, Any]:
    return {
        "order_id": redemption.order_id,
        "amount": money_str(redemption.amount),
        "balance_after": money_str(redemption.balance_after),
        "created_at": redemption.created_at.isoformat(),
    }
