"""The score and decision reason codes make (the codes, weights, messages: campaigns/reasons.py).

The score combines the weights of the reasons found as independent evidence,
1 − Π(1 − wᵢ): it stays within 0..1, one strong reason is enough on its own, and weak
reasons add up (two 0.3 signals make 0.51). A decision is `block` at `block_at` or above,
`review` at `review_at` or above, else `allow`; a stop-rule set to hold forces at least
`review`. A campaign may override any weight and both thresholds (campaign.fraud).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from sarafan.campaigns.reasons import REASONS

ALLOW, REVIEW, BLOCK = "allow", "review", "block"
_ORDER = {ALLOW: 0, REVIEW: 1, BLOCK: 2}

REVIEW_AT = 0.5
BLOCK_AT = 0.9

# Outcomes reported beside the risk reasons (not scored): why a reward was not created.
OUTCOMES: dict[str, Any] = {
    "limit_per_referrer": _("The referrer reached the campaign's monthly limit."),
    "budget_exhausted": _("The campaign's budget or maximum number of rewards is used up."),
    "existing_customer": _("Already a customer: the campaign is for new customers only."),
    "campaign_not_active": _("The campaign is not active."),
}


def message(code: str) -> str:
    """The reason's text in the active language (the code itself for unknown codes)."""
    if code in REASONS:
        return str(REASONS[code][1])
    if code in OUTCOMES:
        return str(OUTCOMES[code])
    return code


@dataclass
class Risk:
    score: float = 0.0
    decision: str = ALLOW
    reasons: list[str] = field(default_factory=list)
    # reason → {"weight": w, ...evidence}
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"score": round(self.score, 4), "decision": self.decision, "reasons": self.reasons}


@dataclass(frozen=True)
class Finding:
    """One reason found, with its evidence; `hold` comes from a stop-rule set to hold."""

    code: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    hold: bool = False
    # Weigh the finding by another entry of REASONS (same_ip with the same user agent).
    weight_key: str = ""


def stricter(a: str, b: str) -> str:
    return a if _ORDER[a] >= _ORDER[b] else b


def weight_of(code: str, weights: Mapping[str, float]) -> float:
    if code in weights:
        return float(weights[code])
    return REASONS[code][0] if code in REASONS else 0.0


def score(
    findings: Iterable[Finding],
    *,
    weights: Mapping[str, float] | None = None,
    review_at: float = REVIEW_AT,
    block_at: float = BLOCK_AT,
) -> Risk:
    """Turn findings into a score, a decision and the reasons in the order found."""
    weights = weights or {}
    remaining = 1.0
    # Stop-rules hold: their weight counts in the score (riskiest first), but on their own
    # they put a case in review, never block it.
    hard_remaining = 1.0
    held = False
    reasons: list[str] = []
    details: dict[str, dict[str, Any]] = {}
    for finding in findings:
        if finding.code in details:
            continue
        weight = weight_of(finding.weight_key or finding.code, weights)
        remaining *= 1.0 - min(max(weight, 0.0), 1.0)
        if not finding.hold:
            hard_remaining *= 1.0 - min(max(weight, 0.0), 1.0)
        held = held or finding.hold
        reasons.append(finding.code)
        details[finding.code] = {"weight": weight, **finding.evidence}
        if finding.hold:
            details[finding.code]["hold"] = True
    value = round(1.0 - remaining, 6)
    decision = decide(value, review_at=review_at, block_at=block_at)
    if held:
        hard = decide(round(1.0 - hard_remaining, 6), review_at=review_at, block_at=block_at)
        decision = stricter(hard, REVIEW)
    return Risk(score=value, decision=decision, reasons=reasons, details=details)


def decide(value: float, *, review_at: float = REVIEW_AT, block_at: float = BLOCK_AT) -> str:
    return BLOCK if value >= block_at else REVIEW if value >= review_at else ALLOW


def merge(
    old: Risk, fresh: Risk, *, review_at: float = REVIEW_AT, block_at: float = BLOCK_AT
) -> tuple[Risk, list[str]]:
    """Add a later assessment's new reasons to an earlier one; the decision never relaxes.

    Returns the merged risk and the reasons that are new. Reasons already known add
    nothing, so an assessment repeated with the same evidence changes nothing.
    """
    added = [code for code in fresh.reasons if code not in old.reasons]
    remaining = 1.0 - old.score
    for code in added:
        remaining *= 1.0 - min(max(float(fresh.details[code].get("weight", 0.0)), 0.0), 1.0)
    value = round(1.0 - remaining, 6) if added else old.score
    by_score = decide(value, review_at=review_at, block_at=block_at)
    if by_score == BLOCK and all(fresh.details[code].get("hold") for code in added):
        by_score = REVIEW  # holds alone never block (see score)
    decision = stricter(old.decision, by_score)
    if added:
        decision = stricter(decision, fresh.decision)
    merged = Risk(
        score=value,
        decision=decision,
        reasons=[*old.reasons, *added],
        details={**old.details, **{code: fresh.details[code] for code in added}},
    )
    return merged, added
