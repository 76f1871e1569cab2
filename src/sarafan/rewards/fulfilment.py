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
An approved reward that cannot be issued keeps `waiting` (and `last_error`) so the console
and the API show why; `resume_waiting` and `attempt_issuer` pick it up again.
"""

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.core.codes import new_certificate_code, new_pin
from sarafan.core.crypto import encrypt
from sarafan.core.errors import Conflict, InvalidRequest
from sarafan.core.slots import outbound_slot
from sarafan.projects.models import Project

from . import announce
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
from .tax import over_threshold

if TYPE_CHECKING:
    from .issuers import Issued

S = RewardStatus
logger = logging.getLogger("sarafan.rewards")
# While one worker calls the issuer for a reward, no other picks the reward up.
ISSUER_LEASE = timedelta(minutes=2)
# How long an attempt is put off when its project's outbound slots are all taken.
BUSY_DELAY = timedelta(seconds=5)


@dataclass(frozen=True)
class Source:
    """A campaign's reward source, as stored by campaigns.services (API.md `reward_source`)."""

    type: str = "internal"
    pools: tuple[str, ...] = ()
    issuer: str | None = None
    choice_days: int | None = None
    default_brand: str | None = None
    bank_min: Decimal | None = None


def source_of(campaign: Campaign | None) -> Source:
    data: dict[str, Any] = (campaign.reward_source if campaign is not None else None) or {}
    choice = data.get("choice") or {}
    bank = data.get("bank") or {}
    return Source(
        type=data.get("type", "internal"),
        pools=tuple(data.get("pools") or ([data["pool"]] if data.get("pool") else [])),
        issuer=data.get("issuer"),
        choice_days=choice.get("days"),
        default_brand=choice.get("default_brand"),
        bank_min=Decimal(bank["min_amount"]) if bank.get("min_amount") else None,
    )


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


def pools_for(reward: Reward, source: Source) -> list[CertificatePool]:
    """The campaign's pools that can pay this reward's amount, in the campaign's order."""
    found = {
        pool.public_id: pool
        for pool in CertificatePool.objects.select_related("brand").filter(
            project_id=reward.project_id,
            livemode=reward.livemode,
            public_id__in=source.pools,
            denomination=reward.amount,
            currency=reward.currency,
        )
    }
    return [found[public_id] for public_id in source.pools if public_id in found]


def offered_brands(reward: Reward, source: Source | None = None) -> list[Brand]:
    """The brands the recipient may choose from for this reward (one each, campaign order)."""
    source = source or source_of(reward.campaign)
    if source.type != "pool":
        return []
    brands: dict[int, Brand] = {}
    for pool in pools_for(reward, source):
        brands.setdefault(pool.brand_id, pool.brand)
    return list(brands.values())


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
    from sarafan.fraud.stoprules import raise_alert

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


def find_issuer(reward: Reward) -> Issuer | None:
    source = source_of(reward.campaign)
    if source.type != "issuer" or not source.issuer:
        return None
    return (
        Issuer.objects.select_related("brand")
        .filter(project_id=reward.project_id, livemode=reward.livemode, public_id=source.issuer)
        .first()
    )


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
            from .tasks import issue_with_issuer

            pk = reward.pk
            transaction.on_commit(lambda: issue_with_issuer.enqueue(pk))
        return [], None
    if outcome.brand is not None:
        reward.brand = outcome.brand
    reward.status = S.ISSUED
    reward.waiting = ""
    reward.last_error = ""
    reward.next_attempt_at = None
    reward.issued_at = now
    if reward.pk is None:
        # A new reward is written once, already issued: the certificate refers to it.
        reward.save(force_insert=True)
    certificate = make_certificate(reward, outcome, project=project)
    announce.reward_issued(reward, certificate, outcome.members)
    steps = [
        RewardEvent(
            reward=reward,
            from_status=S.APPROVED,
            to_status=S.ISSUED,
            actor=actor,
            note=note or f"certificate {certificate.public_id}",
        )
    ]
    for member in outcome.members:
        Reward.objects.filter(pk=member.pk).update(
            status=S.ISSUED, waiting="", banked_into=reward, issued_at=now, updated_at=now
        )
        steps.append(
            RewardEvent(
                reward=member,
                from_status=S.APPROVED,
                to_status=S.ISSUED,
                actor=actor,
                note=f"paid in certificate {certificate.public_id} of {reward.public_id}",
            )
        )
    return steps, certificate


_FIELDS = ["status", "waiting", "choose_by", "next_attempt_at", "last_error", "issued_at"]


def settle(reward: Reward, *, actor: str, project: Project | None = None) -> None:
    """Plan and apply for a locked reward that is (now) approved, and save it."""
    project = project or Project.objects.get(pk=reward.project_id)
    outcome = plan(reward, project=project, campaign=reward.campaign)
    steps, _certificate = apply(reward, outcome, project=project, actor=actor)
    reward.save(update_fields=[*_FIELDS, "brand", "updated_at"])
    RewardEvent.objects.bulk_create(steps)


# --- waiting rewards ---------------------------------------------------------------------


def _locked(pk: int) -> Reward | None:
    return (
        Reward.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .select_related("campaign")
        .filter(pk=pk, status=S.APPROVED)
        .first()
    )


def resume(pk: int, *, actor: str = "system") -> str:
    """Plan a waiting reward again; returns what it waits for now ("" once issued)."""
    with transaction.atomic():
        reward = _locked(pk)
        if reward is None or reward.waiting in {Waiting.ISSUER, Waiting.ISSUER_FAILED}:
            return reward.waiting if reward is not None else "gone"
        # An issuer wait enqueues its attempt once this commits (apply): the call runs in
        # the worker, never in the caller (maybe a web request).
        settle(reward, actor=actor)
        return reward.waiting


def resume_waiting(*, now: datetime | None = None, batch: int = 500) -> int:
    """Issue approved rewards whose wait may be over; returns how many got certificates.

    Pools (codes may have arrived), a choice whose deadline passed, tax holds that can end
    (details recorded, the hold turned off) and issuer retries that are due. Each due issuer
    attempt is a task of its own, so one project's slow provider does not hold up the sweep.
    """
    now = now or timezone.now()
    due = (
        Reward.objects.filter(status=S.APPROVED)
        .filter(
            Q(waiting__in=[Waiting.POOL_EMPTY, ""])
            # Only the tax holds that can end: the hold was turned off or details arrived
            # (the others would fill every batch and hold up the rest).
            | Q(waiting=Waiting.TAX_DETAILS, project__tax_hold=False)
            | Q(waiting=Waiting.TAX_DETAILS, recipient__tax_details_at__isnull=False)
            | Q(waiting=Waiting.CHOICE, choose_by__lte=now)
            | Q(waiting=Waiting.ISSUER, next_attempt_at__lte=now)
        )
        .order_by("id")
        .values_list("pk", "waiting")[:batch]
    )
    from .tasks import issue_with_issuer

    issued = 0
    for pk, waiting in list(due):
        if waiting == Waiting.ISSUER:
            issue_with_issuer.enqueue(pk)
        else:
            issued += resume(pk) == ""
    return issued


def resume_pool(pool: CertificatePool) -> None:
    """After codes arrive: let the worker issue the rewards that waited for them."""
    waiting = Reward.objects.filter(
        project_id=pool.project_id,
        livemode=pool.livemode,
        status=S.APPROVED,
        waiting=Waiting.POOL_EMPTY,
    )
    if waiting.exists():
        from .tasks import resume_waiting_rewards

        transaction.on_commit(resume_waiting_rewards.enqueue)


def attempt_issuer(pk: int) -> str:
    """One call to the campaign's external issuer for an approved reward waiting for it.

    The attempt is claimed with a conditional UPDATE (a lease), the HTTP call runs outside
    any transaction, and the result is written under the reward's row lock. The issuer sees
    the reward's id as the idempotency key, so a repeated attempt never issues twice.
    At most SARAFAN_OUTBOUND_PER_PROJECT calls of one project run at once (core/slots.py):
    without a free slot the attempt is put off by BUSY_DELAY, for the sweep to pick up.
    Returns "issued", "retry", "failed", "circuit_open", "busy", "not_due" or "skipped".
    """

    now = timezone.now()
    reward = (
        Reward.objects.select_related("campaign", "recipient", "brand")
        .filter(pk=pk, status=S.APPROVED, waiting=Waiting.ISSUER)
        .first()
    )
    if reward is None:
        return "skipped"
    if reward.next_attempt_at is not None and reward.next_attempt_at > now:
        return "not_due"
    issuer = find_issuer(reward)
    if issuer is None:
        _give_up(reward, "The campaign's issuer no longer exists.")
        return "failed"
    with project_slot(reward.project_id) as free:
        if not free:
            Reward.objects.filter(
                pk=pk, status=S.APPROVED, waiting=Waiting.ISSUER, attempts=reward.attempts
            ).update(next_attempt_at=now + BUSY_DELAY)
            return "busy"
        return _call_issuer(reward, issuer, now)


def project_slot(project_id: int) -> AbstractContextManager[bool]:
    """One of the project's slots for a call to its external servers (core/slots.py),
    held past the longest call the installation allows (a worker that died frees it)."""
    from sarafan.core.outbound import max_timeout

    hold = max(ISSUER_LEASE, 2 * timedelta(seconds=max_timeout()))
    return outbound_slot(
        f"project:{project_id}", limit=settings.SARAFAN_OUTBOUND_PER_PROJECT, hold=hold
    )


def _call_issuer(reward: Reward, issuer: Issuer, now: datetime) -> str:
    from . import issuers

    pk = reward.pk
    claimed = Reward.objects.filter(
        pk=pk, status=S.APPROVED, waiting=Waiting.ISSUER, attempts=reward.attempts
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + ISSUER_LEASE)
    if not claimed:
        return "skipped"
    attempt = reward.attempts + 1
    brand = reward.brand or issuer.brand
    try:
        issued = issuers.issue(
            issuer,
            reference=reward.public_id,
            amount=reward.amount,
            currency=reward.currency,
            brand=brand.name if brand is not None else "",
            recipient_email=reward.recipient.email,
            recipient_name=reward.recipient.name,
        )
    except issuers.CircuitOpen as exc:
        # Not the provider's answer: the attempt is given back.
        Reward.objects.filter(pk=pk).update(attempts=F("attempts") - 1, next_attempt_at=exc.until)
        return "circuit_open"
    except issuers.IssuerRefused as exc:
        _give_up(reward, f"The issuer refused: {exc}")
        return "failed"
    except issuers.IssuerUnavailable as exc:
        if attempt >= issuer.max_attempts:
            _give_up(reward, f"The issuer failed {attempt} times; last: {exc}")
            return "failed"
        Reward.objects.filter(pk=pk).update(
            next_attempt_at=now + issuers.backoff(attempt), last_error=str(exc)[:500]
        )
        return "retry"
    return _record_issued(pk, issued, issuer, brand)


def _record_issued(pk: int, issued: "Issued", issuer: Issuer, brand: Brand | None) -> str:
    with transaction.atomic():
        reward = (
            Reward.objects.select_for_update(no_key=True, of=("self",))
            .select_related("campaign")
            .filter(pk=pk)
            .first()
        )
        if reward is None or reward.status != S.APPROVED or reward.waiting != Waiting.ISSUER:
            # Cancelled (or issued) meanwhile: the provider's certificate is not needed.
            transaction.on_commit(lambda: _cancel_quietly(issuer, issued.external_id))
            return "skipped"
        project = Project.objects.get(pk=reward.project_id)
        ready = Ready(CertificateKind.ISSUER, brand=brand, issued=issued, issuer=issuer)
        steps, _certificate = apply(reward, ready, project=project, actor="system")
        reward.save(update_fields=[*_FIELDS, "brand", "updated_at"])
        RewardEvent.objects.bulk_create(steps)
    return "issued"


def cancel_at_issuer(certificate: Certificate) -> None:
    """Once the cancellation commits, cancel the issuer's certificate too (best effort)."""
    from .tasks import cancel_at_issuer as task

    pk = certificate.pk
    transaction.on_commit(lambda: task.enqueue(pk))


def cancel_issued(certificate_id: int) -> str:
    """Cancel an external certificate at its issuer; an alert when the issuer cannot."""
    from sarafan.fraud.stoprules import raise_alert

    from . import issuers

    certificate = Certificate.objects.select_related("issuer").get(pk=certificate_id)
    if certificate.issuer is None or not certificate.external_id:
        return "skipped"
    try:
        with project_slot(certificate.project_id) as free:
            if not free:
                return "busy"
            issuers.cancel(certificate.issuer, certificate.external_id)
    except (issuers.IssuerUnavailable, issuers.IssuerRefused, issuers.CircuitOpen) as exc:
        raise_alert(
            project_id=certificate.project_id,
            livemode=certificate.livemode,
            kind="issuer.cancel_failed",
            subject=certificate.public_id,
            message=(
                f"Certificate {certificate.public_id} was cancelled in Sarafan but not at "
                f"{certificate.issuer}: {exc}"
            ),
            data={"certificate": certificate.public_id},
            window=timedelta(days=365),
        )
        return "failed"
    return "cancelled"


def _cancel_quietly(issuer: Issuer, external_id: str) -> None:
    from . import issuers

    try:
        issuers.cancel(issuer, external_id)
    except Exception:
        logger.exception("could not cancel certificate %s at issuer %s", external_id, issuer)


def _give_up(reward: Reward, error: str) -> None:
    from sarafan.fraud.stoprules import raise_alert

    Reward.objects.filter(pk=reward.pk, status=S.APPROVED).update(
        waiting=Waiting.ISSUER_FAILED, next_attempt_at=None, last_error=error[:500]
    )
    raise_alert(
        project_id=reward.project_id,
        livemode=reward.livemode,
        kind="issuer.failed",
        subject=reward.public_id,
        campaign_id=reward.campaign_id,
        message=f"Reward {reward.public_id} was not issued: {error}",
        data={"reward": reward.public_id},
    )


# --- people's actions --------------------------------------------------------------------


def retry_now(reward: Reward, *, actor: str) -> Reward:
    """Try a waiting approved reward again now (pool refilled, issuer back).

    An issuer's attempt is queued for the worker, never made here: the caller may be a web
    request, and a provider that does not answer must not hold it.
    """
    from .tasks import issue_with_issuer

    with transaction.atomic():
        locked = Reward.objects.select_for_update(no_key=True).get(pk=reward.pk)
        if locked.status != S.APPROVED or not locked.waiting:
            raise Conflict("This reward is not waiting to be issued.", code="not_waiting")
        if locked.waiting in {Waiting.ISSUER, Waiting.ISSUER_FAILED}:
            locked.waiting = Waiting.ISSUER
            locked.attempts = 0
            locked.next_attempt_at = None
            locked.save(update_fields=["waiting", "attempts", "next_attempt_at", "updated_at"])
            pk = locked.pk
            transaction.on_commit(lambda: issue_with_issuer.enqueue(pk))
    if locked.waiting != Waiting.ISSUER:
        resume(locked.pk, actor=actor)
    return Reward.objects.get(pk=reward.pk)


def choose_brand(reward: Reward, brand: Brand, *, actor: str) -> Reward:
    """The recipient's (or a manager's) choice of brand; issued at once when approved."""
    with transaction.atomic():
        locked = (
            Reward.objects.select_for_update(no_key=True, of=("self",))
            .select_related("campaign")
            .get(pk=reward.pk)
        )
        if hasattr(locked, "certificate") or locked.status not in {
            S.PENDING,
            S.REVIEW,
            S.APPROVED,
        }:
            raise Conflict("The brand of this reward can no longer change.", code="brand_final")
        if brand.pk not in {b.pk for b in offered_brands(locked)}:
            raise InvalidRequest("This brand is not offered for this reward.", param="brand")
        locked.brand = brand
        locked.save(update_fields=["brand", "updated_at"])
        if locked.status == S.APPROVED and locked.waiting == Waiting.CHOICE:
            settle(locked, actor=actor)
    return locked
