"""Approved rewards that wait, and what ends a wait (README, "Fulfilment").

A reward waits for codes in its pools, for the recipient's choice of brand, for tax
details, for its bank's minimum or for an external issuer (fulfilment.plan says which).
The sweep (`resume_waiting`) plans the due ones again; choosing a brand and a manager's
"retry now" end a wait at once, recording tax details through the handler of the event it
publishes (handlers.resume_tax_held). An issuer's attempt always runs in the worker
(external.py), never in the caller, which may be a web request.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from sarafan.core.crypto import encrypt
from sarafan.core.errors import Conflict, InvalidRequest
from sarafan.participants.models import Participant

from . import announce, queue
from .errors import RewardError
from .fulfilment import settle
from .models import Brand, Reward, RewardStatus, Waiting
from .sources import offered_brands
from .tax import MAX_DETAILS

S = RewardStatus


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
    issued = 0
    for pk, waiting in list(due):
        if waiting == Waiting.ISSUER:
            queue.enqueue("issue_with_issuer", pk)
        else:
            issued += resume(pk) == ""
    return issued


def record_tax_details(participant: Participant, details: str) -> int:
    """Keep a person's tax details (encrypted); the rewards held for them are resumed by the
    handler of `participant.tax_details_recorded`, published in the same transaction.

    Returns how many held rewards will be resumed.
    """
    details = details.strip()
    if not details or len(details) > MAX_DETAILS:
        raise InvalidRequest(f"Tax details must be 1 to {MAX_DETAILS} characters.", param="details")
    with transaction.atomic():
        participant.tax_details_encrypted = encrypt(details)
        participant.tax_details_at = timezone.now()
        participant.save(update_fields=["tax_details_encrypted", "tax_details_at", "updated_at"])
        held = _held_for_tax(participant.pk).count()
        announce.tax_details_recorded(participant, held)
    return held


def resume_held_for_tax(participant_id: int) -> int:
    """Issue the rewards held for a person's tax details, once they are recorded; returns how
    many got certificates. Those already resumed (issued, or waiting for something else)
    are left alone, so a second call issues nothing."""
    held = _held_for_tax(participant_id).filter(recipient__tax_details_at__isnull=False)
    return sum(resume(pk) == "" for pk in list(held.values_list("pk", flat=True)))


def _held_for_tax(participant_id: int) -> QuerySet[Reward]:
    return Reward.objects.filter(
        recipient_id=participant_id, status=S.APPROVED, waiting=Waiting.TAX_DETAILS
    ).order_by("id")


# --- people's actions --------------------------------------------------------------------


def retry_now(reward: Reward, *, actor: str) -> Reward:
    """Try a waiting approved reward again now (pool refilled, issuer back).

    An issuer's attempt is queued for the worker, never made here: the caller may be a web
    request, and a provider that does not answer must not hold it.
    """
    with transaction.atomic():
        locked = Reward.objects.select_for_update(no_key=True).get(pk=reward.pk)
        if locked.status != S.APPROVED or not locked.waiting:
            raise Conflict(RewardError.NOT_WAITING)
        if locked.waiting in {Waiting.ISSUER, Waiting.ISSUER_FAILED}:
            locked.waiting = Waiting.ISSUER
            locked.attempts = 0
            locked.next_attempt_at = None
            locked.save(update_fields=["waiting", "attempts", "next_attempt_at", "updated_at"])
            queue.on_commit("issue_with_issuer", locked.pk)
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
            raise Conflict(RewardError.BRAND_FINAL)
        if brand.pk not in {b.pk for b in offered_brands(locked)}:
            raise InvalidRequest("This brand is not offered for this reward.", param="brand")
        locked.brand = brand
        locked.save(update_fields=["brand", "updated_at"])
        if locked.status == S.APPROVED and locked.waiting == Waiting.CHOICE:
            settle(locked, actor=actor)
    return locked
