"""Fulfilment: how an approved reward becomes an issued certificate (README, "Fulfilment").

`plan` decides, inside the caller's transaction, what an approved reward can get now:
- it waits for the recipient's tax details when the project holds rewards past the
  yearly gift-tax threshold;
- with a reward bank, small rewards wait until together they reach the bank's minimum and
  are then paid in one certificate;
- from Sarafan's own certificates it is issued at once; from pools a code is allocated at
  once (after the recipient's choice of brand, when the campaign offers one), or it waits
  for codes; from an external issuer it waits for the issuer task, since no HTTP call runs
  inside a database transaction.
`apply` records the plan: the certificate and the move to issued (moves.py), or the wait.
An approved reward that cannot be issued keeps `waiting` (and `last_error`) so the console
and the API show why; waiting.py and external.py pick it up again.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.core.codes import new_certificate_code, new_pin
from sarafan.core.crypto import encrypt
from sarafan.projects.models import Project

from . import announce, moves, queue
from .models import (
    Brand,
    Certificate,
    CertificateKind,
    CertificatePool,
    Issuer,
    PoolCode,
    Reward,
    RewardEvent,
    RewardStatus,
    Waiting,
)
from .pools import allocate_code
from .sources import Source, pools_for, source_of
from .tax import over_threshold

if TYPE_CHECKING:
    from .issuer_client import Issued

S = RewardStatus


@dataclass
class Ready:
    """The reward can be issued now, from this source (and this pool code)."""

    kind: str
    pool_code: PoolCode | None = None
    brand: Brand | None = None
    # A bank payout: the total paid and the earlier small rewards it includes.
    amount: Decimal | None = None
    members: list[Reward] = field(default_factory=list)
    # An external issuer's answer.
    issued: "Issued | None" = None
    issuer: Issuer | None = None


@dataclass
class Wait:
    """The reward stays approved, waiting for `reason`."""

    reason: str
    choose_by: datetime | None = None
    next_attempt_at: datetime | None = None
    error: str = ""


def _from_pools(reward: Reward, source: Source, now: datetime) -> Ready | Wait:
    pools = pools_for(reward, source)
    if not pools:
        return Wait(
            Waiting.POOL_EMPTY,
            error=f"No pool of the campaign holds certificates of {reward.amount}.",
        )
    if reward.brand_id is None:
        brands = {pool.brand_id: pool.brand for pool in pools}
        if len(brands) > 1 and source.choice_days:
            if reward.choose_by is None:
                return Wait(Waiting.CHOICE, choose_by=now + timedelta(days=source.choice_days))
            if reward.choose_by > now:
                return Wait(Waiting.CHOICE, choose_by=reward.choose_by)
            default = next(
                (b for b in brands.values() if b.public_id == source.default_brand),
                pools[0].brand,
            )
            reward.brand = default
        else:
            reward.brand = pools[0].brand
    candidates = [pool for pool in pools if pool.brand_id == reward.brand_id]
    for pool in candidates:
        code = allocate_code(pool=pool)
        if code is not None:
            return Ready(CertificateKind.POOL, pool_code=code, brand=pool.brand)
    for pool in candidates:
        _alert_empty(pool, reward)
    return Wait(Waiting.POOL_EMPTY, error="No codes left in the pool.")


def _alert_empty(pool: CertificatePool, reward: Reward) -> None:
    from sarafan.alerts.services import raise_alert

    # The pool's row lock makes parallel events that find it empty raise one alert.
    list(CertificatePool.objects.select_for_update(no_key=True).filter(pk=pool.pk).values("pk"))
    raise_alert(
        project_id=pool.project_id,
        livemode=pool.livemode,
        kind="pool.empty",
        subject=pool.public_id,
        campaign_id=reward.campaign_id,
        message=f"Pool {pool} is empty: rewards wait for codes.",
        data={"pool": pool.public_id},
    )


def _bank(reward: Reward, source: Source, minimum: Decimal) -> Ready | Wait:
    """Pay the recipient's banked rewards of this campaign once they reach the minimum."""
    assert reward.campaign_id is not None  # only campaigns have banks
    members = list(
        Reward.objects.select_for_update(no_key=True)
        .filter(
            project_id=reward.project_id,
            livemode=reward.livemode,
            campaign_id=reward.campaign_id,
            recipient_id=reward.recipient_id,
            status=S.APPROVED,
            waiting=Waiting.BANK,
        )
        .exclude(pk=reward.pk)
        .order_by("id")
    )
    total = reward.amount + sum((m.amount for m in members), Decimal(0))
    if total < minimum:
        return Wait(Waiting.BANK)
    return Ready(source.type, amount=total, members=members)


def plan(reward: Reward, *, project: Project, campaign: Campaign | None) -> Ready | Wait:
    """What an approved reward can get now; the caller holds its row (or is inserting it)."""
    now = timezone.now()
    if project.tax_hold and over_threshold(reward, project):
        return Wait(Waiting.TAX_DETAILS)
    source = source_of(campaign)
    if source.bank_min is not None and reward.campaign_id is not None:
        return _bank(reward, source, source.bank_min)
    if source.type == "pool":
        return _from_pools(reward, source, now)
    if source.type == "issuer":
        return Wait(Waiting.ISSUER, next_attempt_at=now)
    return Ready(CertificateKind.INTERNAL)


def make_certificate(reward: Reward, ready: Ready, *, project: Project) -> Certificate:
    """The certificate paying a reward that is ready (internal, a pool code, an issuer's)."""
    amount = ready.amount if ready.amount is not None else reward.amount
    certificate = Certificate(
        project_id=reward.project_id,
        livemode=reward.livemode,
        reward=reward,
        kind=ready.kind,
        brand=ready.brand.name if ready.brand is not None else project.name,
        catalog_brand=ready.brand,
        amount=amount,
        balance=amount,
        currency=reward.currency,
        expires_at=timezone.now() + timedelta(days=settings.SARAFAN_CERTIFICATE_VALID_DAYS),
    )
    if ready.kind == CertificateKind.INTERNAL:
        # 79-bit random codes do not collide in practice, so no savepoint guards the insert:
        # should one ever collide, the unique constraint fails the transaction and nothing
        # is half-written (the event can be sent again).
        certificate.keep_own_code(new_certificate_code(), new_pin())
    elif ready.pool_code is not None:
        code = ready.pool_code
        certificate.pool_code = code
        certificate.code_encrypted = code.code_encrypted
        certificate.pin_encrypted = code.pin_encrypted
        if code.expires_at is not None:
            certificate.expires_at = code.expires_at
    elif ready.issued is not None:
        issued = ready.issued
        certificate.issuer = ready.issuer
        certificate.external_id = issued.external_id
        certificate.code_encrypted = encrypt(issued.code)
        certificate.pin_encrypted = encrypt(issued.pin) if issued.pin else ""
        if issued.expires_at is not None:
            certificate.expires_at = issued.expires_at
    certificate.save(force_insert=True)
    return certificate


def apply(
    reward: Reward, outcome: Ready | Wait, *, project: Project, actor: str, note: str = ""
) -> tuple[list[RewardEvent], Certificate | None]:
    """Record a plan on an approved reward (saved by the caller) and return its history steps.

    Ready: the reward (inserted here when new) and the bank's members move to issued and
    the certificate is created. Wait: the waiting reason and schedule are set; an issuer wait enqueues the
    issuer task once the transaction commits.
    """
    now = timezone.now()
    if isinstance(outcome, Wait):
        reward.waiting = outcome.reason
        reward.choose_by = outcome.choose_by or reward.choose_by
        reward.next_attempt_at = outcome.next_attempt_at
        reward.last_error = outcome.error
        if outcome.reason == Waiting.ISSUER:
            # Read at commit: a new reward gets its id when the caller inserts it.
            transaction.on_commit(lambda: queue.enqueue("issue_with_issuer", reward.pk))
        return [], None
    if outcome.brand is not None:
        reward.brand = outcome.brand
    moves.mark_issued(reward, now=now)
    if reward.pk is None:
        # A new reward is written once, already issued: the certificate refers to it.
        reward.save(force_insert=True)
    certificate = make_certificate(reward, outcome, project=project)
    announce.reward_issued(reward, certificate, outcome.members)
    steps = [
        moves.issued_step(reward, actor=actor, note=note or f"certificate {certificate.public_id}")
    ]
    for member in outcome.members:
        paid_in = f"paid in certificate {certificate.public_id} of {reward.public_id}"
        steps.append(moves.issue_banked(member, into=reward, now=now, actor=actor, note=paid_in))
    return steps, certificate


FIELDS = ["status", "waiting", "choose_by", "next_attempt_at", "last_error", "issued_at"]


def settle(reward: Reward, *, actor: str, project: Project | None = None) -> None:
    """Plan and apply for a locked reward that is (now) approved, and save it."""
    project = project or Project.objects.get(pk=reward.project_id)
    outcome = plan(reward, project=project, campaign=reward.campaign)
    steps, _certificate = apply(reward, outcome, project=project, actor=actor)
    reward.save(update_fields=[*FIELDS, "brand", "updated_at"])
    RewardEvent.objects.bulk_create(steps)
