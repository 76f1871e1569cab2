"""Reward use cases: grant under limits, approve, issue, reject, cancel, claw back, redeem.

A new reward is written at its final status by `_create`; its status, then and later,
changes only through moves.py, which checks TRANSITIONS and appends to the reward's
history. The campaign's money counters change in one conditional UPDATE or under the
campaign's row lock.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from sarafan.campaigns.models import Campaign, Recipient
from sarafan.core.errors import Conflict, InvalidRequest
from sarafan.core.money import DEFAULT_CURRENCY
from sarafan.participants.models import Participant
from sarafan.projects.models import Project

from . import announce, fulfilment, queue
from .errors import RewardError
from .models import (
    Certificate,
    CertificateStatus,
    Redemption,
    Reward,
    RewardEvent,
    RewardStatus,
)
from .moves import move, start
from .transitions import COUNTED, can_move

S = RewardStatus
LIMIT_PER_REFERRER = RewardError.LIMIT_PER_REFERRER
BUDGET_EXHAUSTED = RewardError.BUDGET_EXHAUSTED


def month_start(now: datetime) -> datetime:
    """The start of `now`'s calendar month in the installation's time zone (monthly limits)."""
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# Plain SQL for the same reason as _RESERVE: the ORM aggregate cost ~20 times the round trip.
_MONTH = f"""
SELECT count(*), sum(amount) FROM rewards_reward
WHERE project_id = %s AND livemode = %s AND campaign_id = %s AND recipient_id = %s
  AND status IN ({", ".join(["%s"] * len(COUNTED))}) AND created_at >= %s
"""  # noqa: S608 - only placeholders are formatted in


def _month_of(campaign: Campaign, recipient: Participant) -> tuple[int, Decimal]:
    """How many rewards (and how much) the recipient got from the campaign this month."""
    params: list[Any] = [campaign.project_id, campaign.livemode, campaign.pk, recipient.pk]
    params += [*COUNTED, month_start(timezone.now())]
    with connection.cursor() as cursor:
        cursor.execute(_MONTH, params)
        count, total = cursor.fetchone()
    # SQLite hands a sum of NUMERIC values back as int or float; money has two decimals.
    return int(count), Decimal(str(total or 0)).quantize(Decimal("0.01"))


def limit_reason(
    *,
    campaign: Campaign,
    recipient: Participant,
    amount: Decimal,
    as_referrer: bool,
    budget: bool = True,
) -> RewardError | None:
    """Why a new reward of `amount` would cross a campaign limit, or None.

    With `budget`, the campaign row must be locked (its counters are read); the monthly
    per-referrer sums need the referrer's row lock (`_lock_referrers`).
    """
    if budget:
        if campaign.max_rewards is not None and campaign.rewards_count >= campaign.max_rewards:
            return BUDGET_EXHAUSTED
        if campaign.budget is not None and campaign.spent + amount > campaign.budget:
            return BUDGET_EXHAUSTED
    per_count = campaign.limit_per_referrer_per_month
    per_amount = campaign.limit_per_referrer_amount_per_month
    if as_referrer and (per_count is not None or per_amount is not None):
        count, total = _month_of(campaign, recipient)
        if per_count is not None and count >= per_count:
            return LIMIT_PER_REFERRER
        if per_amount is not None and total + amount > per_amount:
            return LIMIT_PER_REFERRER
    return None


@dataclass(frozen=True)
class Grant:
    """One reward a campaign's rule pays for one trigger."""

    recipient: Participant
    recipient_role: str
    amount: Decimal
    dedupe_key: str
    hold_days: int
    rule_id: int | None = None


class BudgetContended(Exception):
    """The fast path's budget reservation failed: retry the whole event with `exact=True`."""


def _lock_referrers(campaign: Campaign, grants: list[Grant]) -> None:
    """Lock the referrers whose monthly limits will be counted, in id order.

    Two events paying one referrer then count that referrer's month one after the other,
    while events for other referrers run in parallel.
    """
    if campaign.limit_per_referrer_per_month is None and (
        campaign.limit_per_referrer_amount_per_month is None
    ):
        return
    ids = sorted({g.recipient.pk for g in grants if g.recipient_role == Recipient.REFERRER})
    if ids:
        list(
            Participant.objects.select_for_update(no_key=True).filter(pk__in=ids).values_list("pk")
        )


# Plain SQL: the same statement through the ORM's Q/F expressions cost more CPU to build
# than the rest of the reward's writes together (measured with the events benchmark).
_RESERVE = """
UPDATE campaigns_campaign SET spent = spent + %s, rewards_count = rewards_count + %s
WHERE id = %s AND (budget IS NULL OR budget >= spent + %s)
  AND (max_rewards IS NULL OR max_rewards >= rewards_count + %s)
"""


def reserve(campaign_id: int, amount: Decimal, count: int) -> bool:
    """Add to the campaign's counters unless that crosses its budget or max rewards.

    One conditional UPDATE: the campaign row is locked from here to commit only, so it is
    the caller's last write but one.
    """
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE, [amount, count, campaign_id, amount, count])
        return cursor.rowcount == 1


def grant_rewards(
    *,
    campaign: Campaign,
    grants: list[Grant],
    occurred_at: datetime,
    hold_for_review: bool,
    referral_id: int | None = None,
    order_id: int | None = None,
    trigger: str = "",
    project: Project,
    fresh: bool = False,
    exact: bool = False,
) -> tuple[list[Reward], list[str]]:
    """Create the rewards the campaign's limits allow, inside the caller's transaction.

    Monthly per-referrer limits are counted under the referrer's row lock. The budget and
    max rewards: by default all rewards are created first and their total is reserved at
    the end in one conditional UPDATE, so rewarded events hold the campaign row only
    while they commit; when that reservation fails, BudgetContended is raised and the
    caller retries the event with `exact=True`, which locks the campaign first and decides
    reward by reward (`budget_exhausted` for those that no longer fit).
    `fresh` says the referral or order these rewards pay for was created in this
    transaction, so no earlier reward can share a dedupe key and none is looked up.
    Returns the rewards created and the reasons others were skipped.
    """
    _lock_referrers(campaign, grants)
    if exact:
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
    rewards: list[Reward] = []
    reasons: list[str] = []
    for grant in grants:
        if (
            not fresh
            and Reward.objects.filter(
                project_id=campaign.project_id,
                livemode=campaign.livemode,
                dedupe_key=grant.dedupe_key,
            ).exists()
        ):
            continue
        reason = limit_reason(
            campaign=campaign,
            recipient=grant.recipient,
            amount=grant.amount,
            as_referrer=grant.recipient_role == Recipient.REFERRER,
            budget=exact,
        )
        if reason:
            reasons.append(reason)
            continue
        if exact:
            reserve(campaign.pk, grant.amount, 1)
            campaign.spent += grant.amount
            campaign.rewards_count += 1
        available_at = max(occurred_at, timezone.now() - timedelta(seconds=1)) + timedelta(
            days=grant.hold_days
        )
        if hold_for_review:
            path, notes = [S.REVIEW], ["held for review"]
        elif available_at <= timezone.now():
            path, notes = [S.APPROVED], ["no hold period"]
        else:
            path, notes = [], []
        reward = Reward(
            project_id=campaign.project_id,
            livemode=campaign.livemode,
            campaign=campaign,
            rule_id=grant.rule_id,
            referral_id=referral_id,
            recipient=grant.recipient,
            order_id=order_id,
            trigger=trigger,
            amount=grant.amount,
            currency=campaign.currency,
            status=S.PENDING,
            available_at=available_at,
            dedupe_key=grant.dedupe_key,
        )
        _create(reward, path, notes, project=project, campaign=campaign)
        rewards.append(reward)
    total = sum((reward.amount for reward in rewards), Decimal(0))
    if rewards and not exact and not reserve(campaign.pk, total, len(rewards)):
        raise BudgetContended
    return rewards, reasons


def _create(
    reward: Reward,
    path: Sequence[str],
    notes: Sequence[str],
    *,
    project: Project,
    campaign: Campaign | None,
    actor: str = "system",
) -> None:
    """Insert a new reward already at the end of `path`, its certificate, and its history.

    The path is checked against TRANSITIONS from `pending` (moves.start); a path
    that ends at `approved` goes on through fulfilment (issued now, or waiting). The reward
    is written once with its final status and the steps in one INSERT.
    """
    steps = start(reward, path, notes, actor=actor)
    announce.reward_created(reward)
    if reward.status == S.APPROVED:
        outcome = fulfilment.plan(reward, project=project, campaign=campaign)
        steps += fulfilment.apply(reward, outcome, project=project, actor=actor)[0]
    if reward.pk is None:
        reward.save(force_insert=True)
    for step in steps:
        step.reward = reward
    RewardEvent.objects.bulk_create(steps)


def _approve_and_issue(reward: Reward, *, actor: str, note: str = "") -> None:
    """Approve a locked reward and fulfil it at once (issued now, or waiting)."""
    move(reward, S.APPROVED, actor=actor, note=note)
    fulfilment.settle(reward, actor=actor)


def _locked(reward: Reward) -> Reward:
    return Reward.objects.select_for_update(no_key=True).get(pk=reward.pk)


@transaction.atomic
def approve_reward(*, reward: Reward, actor: str, note: str = "") -> Reward:
    """Approve a pending or in-review reward and issue its certificate at once."""
    reward = _locked(reward)
    _approve_and_issue(reward, actor=actor, note=note)
    return reward


def _release_budget(reward: Reward, amount: Decimal, *, whole: bool) -> None:
    if reward.campaign_id is None:
        return
    updates: dict[str, object] = {"spent": F("spent") - amount}
    if whole:
        updates["rewards_count"] = F("rewards_count") - 1
    Campaign.objects.filter(pk=reward.campaign_id).update(**updates)


@transaction.atomic
def reject_reward(*, reward: Reward, actor: str, note: str = "") -> Reward:
    """Reject a reward that was not paid yet; its amount returns to the campaign's budget."""
    reward = _locked(reward)
    move(reward, S.REJECTED, actor=actor, note=note)
    _release_budget(reward, reward.amount, whole=True)
    return reward


@transaction.atomic
def cancel_reward(*, reward: Reward, actor: str, note: str = "") -> Decimal:
    """Cancel a reward; an issued certificate loses its unredeemed balance (the clawback).

    Returns the amount taken back: the whole reward before issue, the unredeemed balance
    after. Already redeemed money stays spent.
    """
    reward = _locked(reward)
    clawed = reward.amount
    if reward.status in {S.ISSUED, S.DELIVERED}:
        # A banked reward was paid inside its bank reward's certificate: its share comes
        # off that certificate's balance.
        paid_by = reward.banked_into_id or reward.pk
        certificate = (
            Certificate.objects.select_for_update(no_key=True).filter(reward_id=paid_by).first()
        )
        if certificate is not None:
            if reward.banked_into_id is None:
                clawed = certificate.balance
                certificate.balance = Decimal(0)
                certificate.status = CertificateStatus.CANCELLED
            else:
                clawed = min(reward.amount, certificate.balance)
                certificate.balance -= clawed
                if certificate.balance == 0:
                    certificate.status = CertificateStatus.CANCELLED
            certificate.save(update_fields=["balance", "status"])
            if certificate.issuer_id is not None and certificate.status == "cancelled":
                # Once the cancellation commits, at the issuer too (best effort).
                queue.on_commit("cancel_at_issuer", certificate.pk)
    if reward.waiting:
        reward.waiting = ""
        reward.save(update_fields=["waiting"])
    move(reward, S.CANCELLED, actor=actor, note=note)
    _release_budget(reward, clawed, whole=clawed == reward.amount)
    return clawed


def release_due_rewards(*, now: datetime | None = None, batch: int = 500) -> int:
    """Approve and issue pending rewards whose hold period is over; returns how many."""
    now = now or timezone.now()
    released = 0
    due = list(
        Reward.objects.filter(status=S.PENDING, available_at__lte=now)
        .order_by("available_at")
        .values_list("pk", flat=True)[:batch]
    )
    for pk in due:
        with transaction.atomic():
            reward = (
                Reward.objects.select_for_update(skip_locked=True, no_key=True)
                .filter(pk=pk, status=S.PENDING)
                .first()
            )
            if reward is None:
                continue
            _approve_and_issue(reward, actor="system", note="hold period over")
            released += 1
    return released


@transaction.atomic
def create_manual_reward(
    *,
    project: Project,
    livemode: bool,
    recipient: Participant,
    amount: Decimal,
    currency: str | None,
    campaign: Campaign | None,
    actor: str,
    note: str,
) -> Reward:
    """A reward given by hand; it is issued at once and counts against the campaign's budget.

    It is in the campaign's currency (the default): its budget is not converted either.
    """
    if amount <= 0:
        raise InvalidRequest("amount must be greater than zero.", param="amount")
    currency = currency or (campaign.currency if campaign is not None else DEFAULT_CURRENCY)
    if campaign is not None and currency != campaign.currency:
        raise InvalidRequest(
            f"The reward is in {currency}, but campaign '{campaign.public_id}' pays in "
            f"{campaign.currency} (amounts are not converted).",
            code=RewardError.CURRENCY_MISMATCH,
            param="currency",
        )
    if campaign is not None:
        campaign = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
        reason = limit_reason(
            campaign=campaign, recipient=recipient, amount=amount, as_referrer=False
        )
        if reason:
            raise Conflict(reason)
        Campaign.objects.filter(pk=campaign.pk).update(
            spent=F("spent") + amount, rewards_count=F("rewards_count") + 1
        )
    reward = Reward(
        project=project,
        livemode=livemode,
        campaign=campaign,
        recipient=recipient,
        trigger="manual",
        amount=amount,
        currency=currency,
        status=S.PENDING,
        available_at=timezone.now(),
        reason=note[:200],
        dedupe_key=f"manual:{secrets.token_hex(16)}",
    )
    _create(reward, [S.APPROVED], [note], project=project, campaign=campaign, actor=actor)
    return reward


@transaction.atomic
def redeem_certificate(
    *, certificate: Certificate, amount: Decimal, order_id: str
) -> tuple[Redemption, bool]:
    """Take `amount` off the balance for an order; once per order id, never below zero.

    Returns the redemption and whether it is new (a repeat with the same order id and amount
    returns the first one; a different amount for the same order id is a conflict).
    """
    if amount <= 0:
        raise InvalidRequest("amount must be greater than zero.", param="amount")
    certificate = Certificate.objects.select_for_update(no_key=True).get(pk=certificate.pk)
    previous = Redemption.objects.filter(certificate=certificate, order_id=order_id).first()
    if previous is not None:
        if previous.amount != amount:
            raise Conflict(
                f"Order '{order_id}' already redeemed {previous.amount} from this certificate.",
                code=RewardError.ORDER_ALREADY_REDEEMED,
                param="order_id",
            )
        return previous, False
    if certificate.status != CertificateStatus.ACTIVE:
        raise Conflict(
            f"The certificate is {certificate.status}.", code=RewardError.CERTIFICATE_NOT_ACTIVE
        )
    if certificate.expires_at <= timezone.now():
        raise Conflict(RewardError.CERTIFICATE_EXPIRED)
    # The conditional update is the guard: the balance can never go below zero.
    updated = Certificate.objects.filter(pk=certificate.pk, balance__gte=amount).update(
        balance=F("balance") - amount
    )
    if not updated:
        raise Conflict(
            f"The balance is {certificate.balance}; it cannot cover {amount}.",
            code=RewardError.INSUFFICIENT_BALANCE,
            param="amount",
        )
    certificate.refresh_from_db(fields=["balance"])
    redemption = Redemption.objects.create(
        certificate=certificate, order_id=order_id, amount=amount, balance_after=certificate.balance
    )
    if certificate.balance == 0:
        certificate.status = CertificateStatus.REDEEMED
        certificate.save(update_fields=["status"])
        if certificate.reward_id is not None:
            reward = Reward.objects.select_for_update(no_key=True).get(pk=certificate.reward_id)
            if can_move(reward.status, S.REDEEMED):
                move(reward, S.REDEEMED, note=f"redeemed by order {order_id}")
    announce.certificate_redeemed(certificate, redemption)
    return redemption, True
