"""Answer schemas of the moderation API: decisions, bulk review, fraudster marks."""

from typing import Literal

from pydantic import Field

from sarafan.core.schemas import Out, Timestamp
from sarafan.referrals.schemas import ReferralOut


class FraudsterOut(Out):
    object: Literal["fraudster"]
    participant: str
    rejected: int | None = Field(default=None, description="referrals rejected by the mark")
    deleted: bool | None = None


class DecisionOut(Out):
    id: str
    object: Literal["decision"]
    action: str
    referral: str | None
    reward: str | None
    actor: str
    reason: str
    created_at: Timestamp
    reversed_at: Timestamp | None
    reversed_by: str


class ReferralDecidedOut(ReferralOut):
    decision: str = Field(description="the moderation decision's id, dec_…")


class ReviewResultOut(Out):
    object: Literal["review_result"]
    action: Literal["approve", "reject"]
    decided: int
    skipped: int
