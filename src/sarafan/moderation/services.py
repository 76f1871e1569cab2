"""The moderation queue: hold, approve, reject, reverse; fraudster marks; review deadlines.

A case is a referral in `review` with its rewards in `review`. Every decision is a
Decision row (who, when, why) and can be reversed until a reward of the case is paid out
(its certificate issued): a reversed approval puts the case back in review, a reversed
rejection too (the rewards' amounts are reserved against the budget again).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.core.errors import Conflict
from sarafan.core.sweeps import isolated
from sarafan.events.outbox import publish
from sarafan.fraud import risk as scoring
from sarafan.fraud.config import fraud_settings
from sarafan.fraud.models import Fingerprint, FlaggedSignal
from sarafan.fraud.risk import Finding, Risk
from sarafan.fraud.services import FLAGGABLE
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral, ReferralEvent, ReferralStatus
from sarafan.referrals.moves import move as move_referral
from sarafan.rewards import services as rewards
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.rewards.moves import move

from .errors import ModerationError
from .models import Decision, DecisionAction

R = RewardStatus
APPROVE, REJECT = DecisionAction.APPROVE, DecisionAction.REJECT
# Rewards a decision still changes; anything else is paid out or closed.
OPEN_REWARDS = (R.PENDING, R.REVIEW)
PAID_OUT = (R.APPROVED, R.ISSUED, R.DELIVERED, R.REDEEMED)
# History entries that may put a referral in review (see _log and referrals.services).
ENTERED_REVIEW = ("created", "status", "held", "decision_reversed")


def _rejected(referral: Referral) -> None:
    """Announce a rejection (sarafan.events) inside the caller's transaction."""
    payload = {"referral": referral.public_id, "status": referral.status}
    publish(referral.project_id, referral.livemode, "referral.rejected", payload)


def _log(referral: Referral, kind: str, **data: object) -> None:
    ReferralEvent.objects.create(referral=referral, kind=kind, data=data)


def _hold_rewards(referral: Referral, note: str, actor: str = "system") -> int:
    """Pending rewards of the referral go to review (issued ones are paid and stay)."""
    held = 0
    for reward in Reward.objects.select_for_update(no_key=True).filter(
        referral=referral, status=R.PENDING
    ):
        move(reward, R.REVIEW, actor=actor, note=note)
        held += 1
    return held


def _reject_rewards(referral: Referral, note: str, actor: str) -> int:
    """Reject the case's unpaid rewards and claw back the unredeemed part of issued ones."""
    rejected = 0
    for reward in Reward.objects.filter(referral=referral, status__in=OPEN_REWARDS):
        rewards.reject_reward(reward=reward, actor=actor, note=note)
        rejected += 1
    for reward in Reward.objects.filter(referral=referral, status__in=(R.ISSUED, R.DELIVERED)):
        rewards.cancel_reward(reward=reward, actor=actor, note=f"clawback: {note}")
        rejected += 1
    return rejected


def hold_or_reject(referral: Referral, status: str, *, reasons: list[str]) -> None:
    """A stricter risk decision on an open referral: hold it for review, or reject it."""
    note = "risk: " + ", ".join(reasons)
    move_referral(referral, status)
    if status == ReferralStatus.REVIEW:
        _hold_rewards(referral, note)
    else:
        _reject_rewards(referral, note, "system")
    _log(referral, "status", status=status, reasons=reasons)


def _with_hold(referral: Referral, reason: str, evidence: dict[str, object]) -> Risk:
    """The referral's risk with a stop-rule's hold added, weighed as an event's would be."""
    config = fraud_settings(Campaign.objects.get(pk=referral.campaign_id))
    thresholds = {"review_at": config.review_at, "block_at": config.block_at}
    fresh = scoring.score(
        [Finding(reason, evidence, hold=True)], weights=config.weights, **thresholds
    )
    old = Risk(
        referral.risk_score,
        referral.risk_decision,
        list(referral.risk_reasons),
        dict(referral.risk_details),
    )
    merged, _ = scoring.merge(old, fresh, **thresholds)
    merged.decision = scoring.stricter(merged.decision, scoring.REVIEW)
    return merged


def hold_referrals(
    referrals: Iterable[Referral], *, reason: str, evidence: dict[str, object]
) -> int:
    """A stop-rule's hold: open referrals go to review with the reason; returns how many.

    The reason's weight joins the score as at an event, so a case whose score then reaches
    block_at is rejected, as the same evidence at an event would have it.
    """
    held = 0
    for referral in referrals:
        with transaction.atomic():
            locked = (
                Referral.objects.select_for_update(no_key=True)
                .filter(
                    pk=referral.pk, status__in=(ReferralStatus.PENDING, ReferralStatus.QUALIFIED)
                )
                .first()
            )
            if locked is None or reason in locked.risk_reasons:
                # Known already: a moderator approved the case with this reason on it (or
                # it was weighed at an event); only new evidence puts it back in review.
                continue
            risk = _with_hold(locked, reason, evidence)
            locked.risk_score = risk.score
            locked.risk_decision = risk.decision
            locked.risk_reasons = risk.reasons
            locked.risk_details = risk.details
            blocked = risk.decision == scoring.BLOCK
            move_referral(
                locked,
                ReferralStatus.REJECTED if blocked else ReferralStatus.REVIEW,
                also=["risk_score", "risk_reasons", "risk_details", "risk_decision"],
            )
            if blocked:
                _reject_rewards(locked, f"stop-rule: {reason}", "system")
                _rejected(locked)
            else:
                _hold_rewards(locked, f"stop-rule: {reason}")
            _log(locked, "held", reason=reason, evidence=evidence, status=locked.status)
            held += 1
    return held


def _settled_status(referral: Referral) -> str:
    return ReferralStatus.QUALIFIED if referral.qualified_at else ReferralStatus.PENDING


def _approve_rewards(referral: Referral, actor: str, note: str) -> None:
    now = timezone.now()
    for reward in Reward.objects.filter(referral=referral, status=R.REVIEW).order_by("pk"):
        if reward.available_at > now:
            # Approved, but the hold period still runs: the reward waits as pending.
            locked = Reward.objects.select_for_update(no_key=True).get(pk=reward.pk)
            move(locked, R.PENDING, actor=actor, note=note or "approved, hold continues")
        else:
            rewards.approve_reward(reward=reward, actor=actor, note=note)


def _locked_case(referral: Referral) -> Referral:
    return Referral.objects.select_for_update(no_key=True).get(pk=referral.pk)


@transaction.atomic
def decide(*, referral: Referral, action: str, actor: str, reason: str = "") -> Decision:
    """Approve or reject a referral in review, with its rewards in review."""
    referral = _locked_case(referral)
    if referral.status != ReferralStatus.REVIEW:
        raise Conflict(
            f"The referral is {referral.status}, not in review.", code=ModerationError.NOT_IN_REVIEW
        )
    if action == APPROVE:
        move_referral(referral, _settled_status(referral))
        _approve_rewards(referral, actor, reason)
    elif action == REJECT:
        move_referral(referral, ReferralStatus.REJECTED)
        _reject_rewards(referral, reason or "rejected in review", actor)
        _rejected(referral)
    else:
        raise Conflict(f"Unknown decision '{action}'.", code=ModerationError.INVALID_DECISION)
    decision = Decision.objects.create(
        project_id=referral.project_id,
        livemode=referral.livemode,
        referral=referral,
        action=action,
        actor=actor,
        reason=reason[:500],
    )
    _log(referral, f"decision_{action}", actor=actor, reason=reason, decision=decision.public_id)
    return decision


@transaction.atomic
def decide_reward(*, reward: Reward, action: str, actor: str, reason: str = "") -> Decision:
    """Approve or reject one reward in review (a reward without a case of its own)."""
    if action == APPROVE:
        rewards.approve_reward(reward=reward, actor=actor, note=reason)
    elif action == REJECT:
        rewards.reject_reward(reward=reward, actor=actor, note=reason)
    else:
        raise Conflict(f"Unknown decision '{action}'.", code=ModerationError.INVALID_DECISION)
    return Decision.objects.create(
        project_id=reward.project_id,
        livemode=reward.livemode,
        referral_id=reward.referral_id,
        reward=reward,
        action=action,
        actor=actor,
        reason=reason[:500],
    )


def _reserve_again(reward: Reward) -> None:
    """A rejected reward's amount returns to the budget and frees a slot of the referrer's
    month; reversing takes both again, if they are still free."""
    if reward.campaign_id is None:
        return
    referral = reward.referral
    as_referrer = referral is not None and reward.recipient_id == referral.referrer_id
    if as_referrer and reward.created_at >= rewards.month_start(timezone.now()):
        # Under the referrer's row lock, as when rewards are granted.
        recipient = Participant.objects.select_for_update(no_key=True).get(pk=reward.recipient_id)
        campaign = Campaign.objects.get(pk=reward.campaign_id)
        reason = rewards.limit_reason(
            campaign=campaign,
            recipient=recipient,
            amount=reward.amount,
            as_referrer=True,
            budget=False,
        )
        if reason:
            raise Conflict(
                "The referrer's monthly limit no longer allows this reward.", code=reason
            )
    if not rewards.reserve(reward.campaign_id, reward.amount, 1):
        raise Conflict(rewards.BUDGET_EXHAUSTED)


@transaction.atomic
def reverse(*, decision: Decision, actor: str, reason: str = "") -> Decision:
    """Undo a decision while nothing of its case is paid out: the case is back in review."""
    decision = Decision.objects.select_for_update(no_key=True).get(pk=decision.pk)
    if decision.reversed_at is not None:
        raise Conflict(ModerationError.ALREADY_REVERSED)
    referral: Referral | None = None
    if decision.reward_id is not None:
        cases = Reward.objects.filter(pk=decision.reward_id)
    else:
        referral = _locked_case(Referral(pk=decision.referral_id))
        cases = Reward.objects.filter(referral=referral)
    held = list(cases.select_for_update(no_key=True).order_by("pk"))
    if any(reward.status in PAID_OUT for reward in held):
        raise Conflict(ModerationError.ALREADY_PAID_OUT)
    note = f"decision {decision.public_id} reversed" + (f": {reason}" if reason else "")
    for reward in held:
        if decision.action == REJECT and reward.status == R.REJECTED:
            _reserve_again(reward)
            move(reward, R.REVIEW, actor=actor, note=note)
        elif decision.action == APPROVE and reward.status == R.PENDING:
            move(reward, R.REVIEW, actor=actor, note=note)
    if referral is not None:
        move_referral(referral, ReferralStatus.REVIEW)
        _log(referral, "decision_reversed", actor=actor, reason=reason, decision=decision.public_id)
    decision.reversed_at = timezone.now()
    decision.reversed_by = actor
    decision.save(update_fields=["reversed_at", "reversed_by"])
    return decision


def review_queue(
    *,
    project_id: int,
    livemode: bool,
    campaign: Campaign | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    reason: str | None = None,
    older_than: datetime | None = None,
) -> QuerySet[Referral]:
    """Referrals waiting for a decision, riskiest first, filtered as the queue's filters say."""
    queue = Referral.objects.filter(
        project_id=project_id, livemode=livemode, status=ReferralStatus.REVIEW
    ).select_related("referrer", "referee", "campaign")
    if campaign is not None:
        queue = queue.filter(campaign=campaign)
    if min_score is not None:
        queue = queue.filter(risk_score__gte=min_score)
    if max_score is not None:
        queue = queue.filter(risk_score__lte=max_score)
    if reason:
        # The JSON list as text: works alike on PostgreSQL and SQLite.
        queue = queue.filter(risk_reasons__icontains=f'"{reason}"')
    if older_than is not None:
        # In review since before `older_than`: a case created long ago but held only lately
        # (a stop-rule, a later event, a reversed decision) has waited since it was held.
        entered_lately = ReferralEvent.objects.filter(
            referral=OuterRef("pk"), kind__in=ENTERED_REVIEW, created_at__gte=older_than
        )
        queue = queue.filter(created_at__lt=older_than).filter(~Exists(entered_lately))
    return queue.order_by("-risk_score", "id")


@dataclass
class BulkResult:
    decided: int = 0
    skipped: int = 0


def decide_many(
    referrals: Iterable[Referral], *, action: str, actor: str, reason: str = ""
) -> BulkResult:
    """The same decision for many cases, each in its own transaction (one failing skips)."""
    result = BulkResult()
    for referral in referrals:
        try:
            decide(referral=referral, action=action, actor=actor, reason=reason)
            result.decided += 1
        except Conflict:
            result.skipped += 1
    return result


def apply_review_deadlines(*, now: datetime | None = None) -> int:
    """Decide cases nobody looked at within their campaign's review deadline.

    Campaign by campaign: one whose settings or cases make the sweep fail is logged under
    its project and skipped; the other campaigns, of every project, are still decided."""
    now = now or timezone.now()
    decided = 0
    campaigns = (
        Campaign.objects.exclude(fraud={})
        .filter(pk__in=Referral.objects.filter(status=ReferralStatus.REVIEW).values("campaign_id"))
        .select_related("project")
        .order_by("project_id", "pk")
    )
    for campaign in campaigns:
        with isolated("review deadlines", project=campaign.project.public_id):
            decided += _apply_review_deadline(campaign, now)
    return decided


def _apply_review_deadline(campaign: Campaign, now: datetime) -> int:
    config = fraud_settings(campaign)
    if config.review_deadline_days is None:
        return 0
    since = now - timedelta(days=config.review_deadline_days)
    queue = review_queue(
        project_id=campaign.project_id,
        livemode=campaign.livemode,
        campaign=campaign,
        older_than=since,
    )
    result = decide_many(
        list(queue[:500]),
        action=config.review_deadline_action,
        actor="system:review_deadline",
        reason=f"no decision within {config.review_deadline_days} days",
    )
    return result.decided


@transaction.atomic
def mark_fraudster(*, participant: Participant, actor: str, reason: str = "") -> int:
    """Mark a participant as a fraudster: their signals are flagged for later events and
    their open referrals (as referrer or referee) are rejected. Returns cases rejected."""
    participant = Participant.objects.select_for_update(no_key=True).get(pk=participant.pk)
    if participant.fraud_flagged_at is None:
        participant.fraud_flagged_at = timezone.now()
        participant.save(update_fields=["fraud_flagged_at"])
    signals = Fingerprint.objects.filter(participant=participant, kind__in=FLAGGABLE)
    FlaggedSignal.objects.bulk_create(
        [
            FlaggedSignal(
                project_id=participant.project_id,
                livemode=participant.livemode,
                kind=signal.kind,
                value_hash=signal.value_hash,
                participant=participant,
                reason=reason[:500],
                created_by=actor,
            )
            for signal in signals
        ],
        ignore_conflicts=True,
    )
    # Open: not qualified yet, in review, or qualified with rewards still in their hold
    # period (those would be paid out when it ends).
    unpaid = Reward.objects.filter(referral=OuterRef("pk"), status__in=OPEN_REWARDS)
    open_cases = Referral.objects.filter(
        Q(status__in=(ReferralStatus.PENDING, ReferralStatus.REVIEW))
        | (Q(status=ReferralStatus.QUALIFIED) & Exists(unpaid)),
        Q(referrer=participant) | Q(referee=participant),
        project_id=participant.project_id,
        livemode=participant.livemode,
    )
    rejected = 0
    for referral in open_cases:
        locked = _locked_case(referral)
        if locked.status == ReferralStatus.REJECTED:
            continue  # rejected meanwhile (a moderator, a parallel event): decided once
        move_referral(locked, ReferralStatus.REJECTED)
        _reject_rewards(locked, f"fraudster: {reason}" if reason else "fraudster", actor)
        _rejected(locked)
        Decision.objects.create(
            project_id=locked.project_id,
            livemode=locked.livemode,
            referral=locked,
            action=REJECT,
            actor=actor,
            reason=(f"participant marked as fraudster: {reason}")[:500],
        )
        _log(locked, "decision_reject", actor=actor, reason="fraudster")
        rejected += 1
    return rejected


@transaction.atomic
def unmark_fraudster(*, participant: Participant, actor: str) -> None:
    """Take a fraudster mark back: their signals no longer flag later events."""
    Participant.objects.filter(pk=participant.pk).update(fraud_flagged_at=None)
    FlaggedSignal.objects.filter(participant=participant).delete()
