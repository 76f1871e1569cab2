"""Reads for moderators: the evidence of a case side by side, its rewards and decisions,
and what waits in the queue."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.fraud.models import Fingerprint, FlaggedSignal, SignalKind
from sarafan.fraud.services import IP_WINDOW
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral, ReferralStatus
from sarafan.rewards.models import Reward

from .models import Decision
from .services import PAID_OUT


@dataclass
class SignalRow:
    kind: str
    label: str
    referrer: list[str] = field(default_factory=list)
    referee: list[str] = field(default_factory=list)
    shared: bool = False
    flagged: bool = False
    last_seen: datetime | None = None


def _short(value_hash: str) -> str:
    return value_hash[:10]


def evidence_rows(referral: Referral) -> list[SignalRow]:
    """Each signal kind with the referrer's and the referee's values (hash prefixes)."""
    prints = list(
        Fingerprint.objects.filter(
            participant_id__in=[referral.referrer_id, referral.referee_id]
        ).order_by("kind", "-last_seen_at")
    )
    flagged = set(
        FlaggedSignal.objects.filter(
            project_id=referral.project_id,
            livemode=referral.livemode,
            value_hash__in=[p.value_hash for p in prints],
        ).values_list("value_hash", flat=True)
    )
    by_side: dict[int, set[str]] = {referral.referrer_id: set(), referral.referee_id: set()}
    # As the score counts them: addresses shared only if both used them lately.
    recent = timezone.now() - IP_WINDOW
    for fingerprint in prints:
        if fingerprint.kind in (SignalKind.IP, SignalKind.IP_NET) and (
            fingerprint.last_seen_at < recent
        ):
            continue
        by_side[fingerprint.participant_id].add(fingerprint.value_hash)
    common = by_side[referral.referrer_id] & by_side[referral.referee_id]
    rows: list[SignalRow] = []
    for kind, label in SignalKind.choices:
        row = SignalRow(kind=kind, label=str(label))
        for fingerprint in prints:
            if fingerprint.kind != kind:
                continue
            side = (
                row.referrer if fingerprint.participant_id == referral.referrer_id else row.referee
            )
            mark = _short(fingerprint.value_hash)
            if mark not in side:
                side.append(mark)
            row.shared = row.shared or fingerprint.value_hash in common
            row.flagged = row.flagged or fingerprint.value_hash in flagged
            if row.last_seen is None or fingerprint.last_seen_at > row.last_seen:
                row.last_seen = fingerprint.last_seen_at
        if row.referrer or row.referee:
            rows.append(row)
    return rows


def _person(participant: Participant) -> dict[str, Any]:
    return {
        "external_id": participant.external_id,
        "name": participant.name,
        "email": participant.email,
        "phone": participant.phone,
        "created_at": participant.created_at.isoformat(),
        "paid_orders": participant.paid_orders,
        "fraudster": participant.fraud_flagged_at is not None,
        "risk_flags": participant.risk_flags,
    }


def evidence(referral: Referral) -> dict[str, Any]:
    """The API's evidence object: both people and their signals, shared ones marked."""
    return {
        "referrer": _person(referral.referrer),
        "referee": _person(referral.referee),
        "signals": [
            {
                "kind": row.kind,
                "referrer": row.referrer,
                "referee": row.referee,
                "shared": row.shared,
                "flagged": row.flagged,
            }
            for row in evidence_rows(referral)
        ],
    }


@dataclass
class DecisionRow:
    """A decision on a case, and whether it can still be reversed (nothing paid out)."""

    decision: Decision
    reversible: bool


def case_rewards(referral: Referral) -> list[Reward]:
    """The rewards of a case, oldest first, with their recipients."""
    return list(Reward.objects.filter(referral=referral).select_related("recipient").order_by("id"))


def case_decisions(referral: Referral, rewards: list[Reward] | None = None) -> list[DecisionRow]:
    """Decisions on the case or on one of its rewards, newest first.

    A decision is reversible while it is not reversed and no reward it covers is paid out
    (services.reverse refuses the others).
    """
    rewards = case_rewards(referral) if rewards is None else rewards
    paid = {reward.pk for reward in rewards if reward.status in PAID_OUT}
    rows = []
    for decision in Decision.objects.filter(referral=referral).order_by("-id"):
        covers_paid = decision.reward_id in paid if decision.reward_id else bool(paid)
        rows.append(DecisionRow(decision, decision.reversed_at is None and not covers_paid))
    return rows


def cases_in_review(*, livemode: bool) -> dict[int, int]:
    """How many referrals wait for a decision in each project of one mode."""
    rows = (
        Referral.objects.filter(livemode=livemode, status=ReferralStatus.REVIEW)
        .order_by()
        .values("project_id")
        .annotate(n=Count("pk"))
    )
    return {row["project_id"]: row["n"] for row in rows}


def review_campaigns(*, project_id: int, livemode: bool) -> QuerySet[Campaign]:
    """Campaigns with at least one case in review (the queue's campaign filter)."""
    in_review = Referral.objects.filter(
        project_id=project_id, livemode=livemode, status=ReferralStatus.REVIEW
    ).values("campaign_id")
    return Campaign.objects.filter(pk__in=in_review).order_by("name")
