"""Reward rules: which of a campaign's rules apply to an event, what each pays, and the
rewards granted for them (`apply_rules`, called by tracking for signups and orders).

The arithmetic (`applies`, `amount_for`) is pure, on RuleTerms; `apply_rules` reads the
campaign's rules and the referrer's successes and grants through services.grant_rewards.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from sarafan.campaigns.models import Recipient, RewardRule
from sarafan.campaigns.selectors import CampaignTerms, campaign_terms
from sarafan.core.money import quantize
from sarafan.projects.models import Project
from sarafan.referrals.models import Referral, ReferralStatus
from sarafan.referrals.services import is_running
from sarafan.referrals.services import log as log_referral

from .models import Reward
from .services import Grant, grant_rewards


@dataclass(frozen=True)
class RuleTerms:
    """The parts of a RewardRule the arithmetic needs (decoupled from the ORM for testing)."""

    trigger: str
    kind: str
    amount: Decimal | None = None
    percent: Decimal | None = None
    max_amount: Decimal | None = None
    min_order_amount: Decimal | None = None
    tiers: tuple[tuple[int, Decimal], ...] = ()


def applies(terms: RuleTerms, *, trigger: str, order_amount: Decimal | None) -> bool:
    """A rule applies to its own trigger, and to orders at or above its minimum."""
    if terms.trigger != trigger:
        return False
    if terms.min_order_amount is not None:
        return order_amount is not None and order_amount >= terms.min_order_amount
    return True


def amount_for(
    terms: RuleTerms, *, order_amount: Decimal | None, referrer_successes: int
) -> Decimal | None:
    """What the rule pays, or None when it pays nothing.

    fixed: the amount; percent: that share of the order, capped; tiered: the amount of the
    highest tier whose `from` the referrer's successful referrals (this one included) reach.
    """
    if terms.kind == "fixed":
        return terms.amount
    if terms.kind == "percent":
        if order_amount is None or terms.percent is None:
            return None
        value = quantize(order_amount * terms.percent / Decimal(100))
        if terms.max_amount is not None:
            value = min(value, terms.max_amount)
        return value if value > 0 else None
    if terms.kind == "tiered":
        reached = [amount for start, amount in terms.tiers if referrer_successes >= start]
        return reached[-1] if reached else None
    return None


# -- application ---------------------------------------------------------------------------


def _terms(rule: RewardRule) -> RuleTerms:
    return RuleTerms(
        trigger=rule.trigger,
        kind=rule.kind,
        amount=rule.amount,
        percent=rule.percent,
        max_amount=rule.max_amount,
        min_order_amount=rule.min_order_amount,
        tiers=tuple((int(t["from"]), Decimal(str(t["amount"]))) for t in rule.tiers),
    )


def _successes(referral: Referral, trigger: str) -> int:
    statuses = [ReferralStatus.QUALIFIED]
    if trigger == "signup":
        statuses.append(ReferralStatus.PENDING)
    return Referral.objects.filter(
        project_id=referral.project_id,
        livemode=referral.livemode,
        campaign_id=referral.campaign_id,
        referrer_id=referral.referrer_id,
        status__in=statuses,
    ).count()


def apply_rules(
    *,
    project: Project,
    referral: Referral | None,
    trigger: str,
    order_id: int | None,
    order_amount: Decimal | None,
    occurred_at: datetime,
    fresh: bool,
    exact: bool,
    known: CampaignTerms | None = None,
) -> tuple[list[Reward], list[str]]:
    """Grant what the referral's campaign pays for this trigger; returns rewards and skip reasons.

    `order_id` and `order_amount` are the paid order's, for order triggers. `fresh`: the
    referral (signup) or the order was created in this transaction; `known`: the
    referral's campaign and rules if attribution has just read them.
    """
    if referral is None or referral.status == ReferralStatus.REJECTED:
        return [], []
    current = known or campaign_terms(referral.campaign_id)
    if current is None or not is_running(current.campaign, timezone.now()):
        return [], ["campaign_not_active"]
    campaign = current.campaign
    matching = [
        (rule, _terms(rule))
        for rule in current.rules
        if applies(_terms(rule), trigger=trigger, order_amount=order_amount)
    ]
    # Only tiered rules depend on how many friends the referrer already brought.
    tiered = any(terms.kind == "tiered" for _, terms in matching)
    successes = _successes(referral, trigger) if tiered else 0
    paid_for = f"order{order_id}" if order_id is not None else f"referral{referral.pk}:{trigger}"
    grants = []
    for rule, terms in matching:
        amount = amount_for(terms, order_amount=order_amount, referrer_successes=successes)
        if amount:
            is_referrer = rule.recipient == Recipient.REFERRER
            grants.append(
                Grant(
                    recipient=referral.referrer if is_referrer else referral.referee,
                    recipient_role=rule.recipient,
                    amount=amount,
                    dedupe_key=f"cmp{campaign.pk}:rule{rule.position}:{rule.recipient}:{paid_for}",
                    hold_days=rule.hold_days,
                    rule_id=rule.pk,
                )
            )
    if not grants:
        return [], []
    rewards, reasons = grant_rewards(
        campaign=campaign,
        grants=grants,
        occurred_at=occurred_at,
        hold_for_review=referral.status == ReferralStatus.REVIEW,
        referral_id=referral.pk,
        order_id=order_id,
        trigger=trigger,
        project=project,
        fresh=fresh,
        exact=exact,
    )
    for reason in reasons:
        log_referral(referral, "reward_skipped", trigger=trigger, reason=reason)
    return rewards, reasons
