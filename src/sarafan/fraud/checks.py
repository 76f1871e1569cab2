"""Risk of a referral: signals shared by referrer and referee turn into a score and a decision.

This is the first cut (same e-mail, same phone); the anti-fraud issue adds
the full signal set, weights per campaign and stop-rules.
"""

import re
from dataclasses import dataclass, field

from sarafan.participants.models import Participant

WEIGHTS = {
    "self_referral_email": 1.0,
    "self_referral_phone": 1.0,
}
BLOCK_AT = 0.9
REVIEW_AT = 0.5


@dataclass
class Risk:
    score: float = 0.0
    decision: str = "allow"
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"score": round(self.score, 4), "decision": self.decision, "reasons": self.reasons}


def _email(value: str) -> str:
    return value.strip().lower()


def _phone(value: str) -> str:
    return re.sub(r"\D", "", value)


def assess(*, referrer: Participant, referee: Participant) -> Risk:
    """Score a referral by what referrer and referee share; block at 0.9, review at 0.5."""
    reasons: list[str] = []
    if referrer.email and referee.email and _email(referrer.email) == _email(referee.email):
        reasons.append("self_referral_email")
    if referrer.phone and referee.phone and _phone(referrer.phone) == _phone(referee.phone):
        reasons.append("self_referral_phone")
    score = min(1.0, float(sum(WEIGHTS[reason] for reason in reasons)))
    decision = "block" if score >= BLOCK_AT else "review" if score >= REVIEW_AT else "allow"
    return Risk(score=score, decision=decision, reasons=reasons)
