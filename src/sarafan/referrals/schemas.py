"""Answer schemas of the referrals API (API.md, "Referrals, rewards, certificates")."""

from typing import Literal

from pydantic import Field

from sarafan.core.schemas import Out, Timestamp
from sarafan.fraud.schemas import EvidenceOut, RiskOut

from .models import ReferralStatus


class ReferralOut(Out):
    id: str
    object: Literal["referral"]
    livemode: bool
    campaign: str
    referrer: str
    referee: str
    status: ReferralStatus
    channel: str
    source: str = Field(description="how it was attributed: code, click or invite")
    created_at: Timestamp
    qualified_at: Timestamp | None
    risk: RiskOut
    evidence: EvidenceOut | None = Field(default=None, description="when read one by one")
