"""Rewards paid by an external issuer: the attempt for a reward waiting for it, and the
cancellation of an issuer's certificate (README, "External issuers").

Both run in the worker (tasks.py), never inside a database transaction or a web request:
the HTTP call (issuer_client.py) waits on the network. At most SARAFAN_OUTBOUND_PER_PROJECT
calls of one project run at once (core/slots.py).
"""

import logging
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sarafan.core import slots
from sarafan.core.circuit import CircuitOpen
from sarafan.projects.models import Project

from . import issuer_client
from .fulfilment import FIELDS, Ready, apply
from .issuer_client import Issued
from .models import (
    Brand,
    Certificate,
    CertificateKind,
    Issuer,
    Reward,
    RewardEvent,
    RewardStatus,
    Waiting,
)
from .sources import find_issuer

S = RewardStatus
logger = logging.getLogger("sarafan.rewards")
# While one worker calls the issuer for a reward, no other picks the reward up.
ISSUER_LEASE = timedelta(minutes=2)
# How long an attempt is put off when its project's outbound slots are all taken.
BUSY_DELAY = timedelta(seconds=5)


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
    held at least as long as the issuer's lease."""
    return slots.project_slot(project_id, lease=ISSUER_LEASE)


def _call_issuer(reward: Reward, issuer: Issuer, now: datetime) -> str:
    pk = reward.pk
    claimed = Reward.objects.filter(
        pk=pk, status=S.APPROVED, waiting=Waiting.ISSUER, attempts=reward.attempts
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + ISSUER_LEASE)
    if not claimed:
        return "skipped"
    attempt = reward.attempts + 1
    brand = reward.brand or issuer.brand
    try:
        issued = issuer_client.issue(
            issuer,
            reference=reward.public_id,
            amount=reward.amount,
            currency=reward.currency,
            brand=brand.name if brand is not None else "",
            recipient_email=reward.recipient.email,
            recipient_name=reward.recipient.name,
        )
    except CircuitOpen as exc:
        # Not the provider's answer: the attempt is given back.
        Reward.objects.filter(pk=pk).update(attempts=F("attempts") - 1, next_attempt_at=exc.until)
        return "circuit_open"
    except issuer_client.IssuerRefused as exc:
        _give_up(reward, f"The issuer refused: {exc}")
        return "failed"
    except issuer_client.IssuerUnavailable as exc:
        if attempt >= issuer.max_attempts:
            _give_up(reward, f"The issuer failed {attempt} times; last: {exc}")
            return "failed"
        Reward.objects.filter(pk=pk).update(
            next_attempt_at=now + issuer_client.backoff(attempt), last_error=str(exc)[:500]
        )
        return "retry"
    return _record_issued(pk, issued, issuer, brand)


def _record_issued(pk: int, issued: Issued, issuer: Issuer, brand: Brand | None) -> str:
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
        reward.save(update_fields=[*FIELDS, "brand", "updated_at"])
        RewardEvent.objects.bulk_create(steps)
    return "issued"


def cancel_issued(certificate_id: int) -> str:
    """Cancel an external certificate at its issuer; an alert when the issuer cannot."""
    from sarafan.alerts.services import raise_alert

    certificate = Certificate.objects.select_related("issuer").get(pk=certificate_id)
    if certificate.issuer is None or not certificate.external_id:
        return "skipped"
    try:
        with project_slot(certificate.project_id) as free:
            if not free:
                return "busy"
            issuer_client.cancel(certificate.issuer, certificate.external_id)
    except (
        issuer_client.IssuerUnavailable,
        issuer_client.IssuerRefused,
        CircuitOpen,
    ) as exc:
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
    try:
        issuer_client.cancel(issuer, external_id)
    except Exception:
        logger.exception("could not cancel certificate %s at issuer %s", external_id, issuer)


def _give_up(reward: Reward, error: str) -> None:
    from sarafan.alerts.services import raise_alert

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
