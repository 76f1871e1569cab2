"""Reward use cases: grant under limits, approve, issue, reject, cancel, claw back, redeem.

Every status change goes through `_move`, which checks TRANSITIONS and appends to the
reward's history; money counters on the campaign change only under its row lock.
"""

import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from sarafan.campaigns.models import Campaign, Recipient
from sarafan.core.codes import new_certificate_code, new_pin
from sarafan.core.errors import Conflict, InvalidRequest
from sarafan.participants.models import Participant
from sarafan.projects.models import Project

from .models import (
    Certificate,
    CertificateStatus,
    Redemption,
    Reward,
    RewardEvent,
    RewardStatus,
)
from .transitions import COUNTED, can_move

S = RewardStatus
LIMIT_PER_REFERRER = "limit_per_referrer"
BUDGET_EXHAUSTED = "budget_exhausted"


def _move(
    reward: Reward,
    *path: str,
    actor: str = "system",
    notes: tuple[str, ...] = (),
    created: bool = False,
) -> None:
    """Move a reward along `path`, each step checked against TRANSITIONS.

    The steps (and, for a reward created in this transaction, its creation) are logged in
    one INSERT and the final status is written in one UPDATE.
    """
    steps: list[RewardEvent] = []
    if created:
        steps.append(RewardEvent(reward=reward, to_status=S.PENDING, actor=actor, note="created"))
    current = reward.status
    for index, to_status in enumerate(path):
        if not can_move(current, to_status):
            raise Conflict(
                f"A reward cannot go from '{current}' to '{to_status}'.",
                code="invalid_status_transition",
            )
        note = notes[index] if index < len(notes) else ""
        steps.append(
            RewardEvent(
                reward=reward, from_status=current, to_status=to_status, actor=actor, note=note
            )
        )
        current = to_status
    RewardEvent.objects.bulk_create(steps)
    if current != reward.status:
        reward.status = current
        reward.save(update_fields=["status", "updated_at"])


def _month_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def limit_reason(
    *, campaign: Campaign, recipient: Participant, amount: Decimal, as_referrer: bool
) -> str | None:
    """Why a new reward of `amount` would cross a campaign limit, or None. Campaign is locked."""
    if campaign.max_rewards is not None and campaign.rewards_count >= campaign.max_rewards:
        return BUDGET_EXHAUSTED
    if campaign.budget is not None and campaign.spent + amount > campaign.budget:
        return BUDGET_EXHAUSTED
    per_count = campaign.limit_per_referrer_per_month
    per_amount = campaign.limit_per_referrer_amount_per_month
    if as_referrer and (per_count is not None or per_amount is not None):
        month = Reward.objects.filter(
            project_id=campaign.project_id,
            livemode=campaign.livemode,
            campaign=campaign,
            recipient=recipient,
            status__in=COUNTED,
            created_at__gte=_month_start(timezone.now()),
        ).aggregate(count=Count("id"), total=Sum("amount"))
        if per_count is not None and month["count"] >= per_count:
            return LIMIT_PER_REFERRER
        if per_amount is not None and (month["total"] or Decimal(0)) + amount > per_amount:
            return LIMIT_PER_REFERRER
    return None


def grant_reward(
    *,
    campaign: Campaign,
    recipient: Participant,
    recipient_role: str,
    amount: Decimal,
    dedupe_key: str,
    hold_days: int,
    occurred_at: datetime,
    hold_for_review: bool,
    rule_id: int | None = None,
    referral_id: int | None = None,
    order_id: int | None = None,
    trigger: str = "",
    brand: str | None = None,
) -> tuple[Reward | None, str | None]:
    """Create one reward if the campaign's limits allow it, inside the caller's transaction.

    The caller holds the campaign's row lock, so counters and monthly sums are exact under
    concurrency; `dedupe_key` is unique, so the same rule never pays the same thing twice.
    Returns the reward (None when skipped) and the reason it was skipped.
    """
    reason = limit_reason(
        campaign=campaign,
        recipient=recipient,
        amount=amount,
        as_referrer=recipient_role == Recipient.REFERRER,
    )
    if reason:
        return None, reason
    available_at = max(occurred_at, timezone.now() - timedelta(seconds=1)) + timedelta(
        days=hold_days
    )
    try:
        with transaction.atomic():
            reward = Reward.objects.create(
                project_id=campaign.project_id,
                livemode=campaign.livemode,
                campaign=campaign,
                rule_id=rule_id,
                referral_id=referral_id,
                recipient=recipient,
                order_id=order_id,
                trigger=trigger,
                amount=amount,
                currency=campaign.currency,
                status=S.PENDING,
                available_at=available_at,
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        return None, "duplicate"
    Campaign.objects.filter(pk=campaign.pk).update(
        spent=F("spent") + amount, rewards_count=F("rewards_count") + 1
    )
    campaign.spent += amount
    campaign.rewards_count += 1
    if hold_for_review:
        _move(reward, S.REVIEW, notes=("held for review",), created=True)
    elif available_at <= timezone.now():
        _approve_and_issue(reward, actor="system", note="no hold period", created=True, brand=brand)
    else:
        _move(reward, created=True)
    return reward, None


def issue_certificate(*, reward: Reward, brand: str | None = None) -> Certificate:
    """Create Sarafan's own e-certificate for a reward (code + PIN, full balance)."""
    if brand is None:
        brand = Project.objects.only("name").get(pk=reward.project_id).name
    expires_at = timezone.now() + timedelta(days=settings.SARAFAN_CERTIFICATE_VALID_DAYS)
    for _ in range(5):
        try:
            with transaction.atomic():
                return Certificate.objects.create(
                    project_id=reward.project_id,
                    livemode=reward.livemode,
                    reward=reward,
                    code=new_certificate_code(),
                    pin=new_pin(),
                    brand=brand,
                    amount=reward.amount,
                    balance=reward.amount,
                    currency=reward.currency,
                    expires_at=expires_at,
                )
        except IntegrityError:  # pragma: no cover - 79-bit codes; a retry is belt and braces
            continue
    raise Conflict(  # pragma: no cover
        "Could not generate a unique certificate code.", code="code_exhausted"
    )


def _approve_and_issue(
    reward: Reward, *, actor: str, note: str = "", created: bool = False, brand: str | None = None
) -> None:
    """Approve and issue at once: the certificate, then both steps logged together."""
    if not can_move(reward.status, S.APPROVED):
        raise Conflict(
            f"A reward cannot go from '{reward.status}' to '{S.APPROVED}'.",
            code="invalid_status_transition",
        )
    certificate = issue_certificate(reward=reward, brand=brand)
    _move(
        reward,
        S.APPROVED,
        S.ISSUED,
        actor=actor,
        notes=(note, f"certificate {certificate.public_id}"),
        created=created,
    )


def _locked(reward: Reward) -> Reward:
    return Reward.objects.select_for_update().get(pk=reward.pk)


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
    _move(reward, S.REJECTED, actor=actor, notes=(note,))
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
        certificate = Certificate.objects.select_for_update().filter(reward=reward).first()
        if certificate is not None:
            clawed = certificate.balance
            certificate.balance = Decimal(0)
            certificate.status = CertificateStatus.CANCELLED
            certificate.save(update_fields=["balance", "status"])
    _move(reward, S.CANCELLED, actor=actor, notes=(note,))
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
                Reward.objects.select_for_update(skip_locked=True)
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
    currency: str,
    campaign: Campaign | None,
    actor: str,
    note: str,
) -> Reward:
    """A reward given by hand; it is issued at once and counts against the campaign's budget."""
    if amount <= 0:
        raise InvalidRequest("amount must be greater than zero.", param="amount")
    if campaign is not None:
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        reason = limit_reason(
            campaign=campaign, recipient=recipient, amount=amount, as_referrer=False
        )
        if reason:
            raise Conflict("The campaign's budget does not allow this reward.", code=reason)
        Campaign.objects.filter(pk=campaign.pk).update(
            spent=F("spent") + amount, rewards_count=F("rewards_count") + 1
        )
    reward = Reward.objects.create(
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
    _approve_and_issue(reward, actor=actor, note=note, created=True)
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
    certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
    previous = Redemption.objects.filter(certificate=certificate, order_id=order_id).first()
    if previous is not None:
        if previous.amount != amount:
            raise Conflict(
                f"Order '{order_id}' already redeemed {previous.amount} from this certificate.",
                code="order_already_redeemed",
                param="order_id",
            )
        return previous, False
    if certificate.status != CertificateStatus.ACTIVE:
        raise Conflict(f"The certificate is {certificate.status}.", code="certificate_not_active")
    if certificate.expires_at <= timezone.now():
        raise Conflict("The certificate has expired.", code="certificate_expired")
    # The conditional update is the guard: the balance can never go below zero.
    updated = Certificate.objects.filter(pk=certificate.pk, balance__gte=amount).update(
        balance=F("balance") - amount
    )
    if not updated:
        raise Conflict(
            f"The balance is {certificate.balance}; it cannot cover {amount}.",
            code="insufficient_balance",
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
            reward = Reward.objects.select_for_update().get(pk=certificate.reward_id)
            if can_move(reward.status, S.REDEEMED):
                _move(reward, S.REDEEMED, notes=(f"redeemed by order {order_id}",))
    return redemption, True
