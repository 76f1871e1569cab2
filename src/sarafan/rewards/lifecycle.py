"""The end of a certificate's life: expiry by the scheduled sweep.

Moves go through the reward state machine (moves.move); certificates are marked in
the same transaction as their rewards.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sarafan.core.circuit import CircuitOpen

from . import issuer_client
from .external import project_slot
from .models import Certificate, CertificateStatus, Reward, RewardStatus
from .moves import move
from .transitions import can_move

S = RewardStatus


def expire_certificates(*, now: datetime | None = None, batch: int = 500) -> int:
    """Expire active certificates past their date, and the rewards they pay; returns how many."""
    now = now or timezone.now()
    due = list(
        Certificate.objects.filter(status=CertificateStatus.ACTIVE, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch]
    )
    expired = 0
    for pk in due:
        with transaction.atomic():
            certificate = (
                Certificate.objects.select_for_update(no_key=True, skip_locked=True)
                .filter(pk=pk, status=CertificateStatus.ACTIVE)
                .first()
            )
            if certificate is None:
                continue
            certificate.status = CertificateStatus.EXPIRED
            certificate.save(update_fields=["status"])
            expired += 1
            _follow(certificate, S.EXPIRED, note=f"certificate {certificate.public_id} expired")
    return expired


def _follow(certificate: Certificate, to_status: str, *, note: str) -> None:
    """Move the reward a certificate pays, and the banked rewards paid inside it, where
    the certificate went (those the state machine lets move)."""
    if certificate.reward_id is None:
        return
    paid = Reward.objects.select_for_update(no_key=True).filter(
        Q(pk=certificate.reward_id) | Q(banked_into_id=certificate.reward_id)
    )
    for reward in paid.order_by("id"):
        if can_move(reward.status, to_status):
            move(reward, to_status, note=note)


# Where a provider's status takes a certificate issued by it, and its reward.
_EXTERNAL = {
    "redeemed": (CertificateStatus.REDEEMED, S.REDEEMED),
    "expired": (CertificateStatus.EXPIRED, S.EXPIRED),
    "cancelled": (CertificateStatus.CANCELLED, S.CANCELLED),
}


def sync_issued_externally(*, batch: int = 200) -> int:
    """Ask the issuers about their active certificates; follow what changed there.

    Redeemed at the provider → the reward is redeemed (expired and cancelled alike).
    Unreachable issuers are skipped until the next run (their circuit decides), and so are
    certificates whose project has all its outbound slots taken. Returns how many
    certificates changed.
    """
    active = (
        Certificate.objects.filter(status=CertificateStatus.ACTIVE, issuer__isnull=False)
        .exclude(external_id="")
        .select_related("issuer")
        .order_by("id")[:batch]
    )
    changed = 0
    for certificate in active:
        assert certificate.issuer is not None
        try:
            with project_slot(certificate.project_id) as free:
                if not free:
                    continue
                remote = issuer_client.status(certificate.issuer, certificate.external_id)
        except (
            issuer_client.IssuerUnavailable,
            issuer_client.IssuerRefused,
            CircuitOpen,
        ):
            continue
        if remote not in _EXTERNAL:
            continue
        certificate_status, reward_status = _EXTERNAL[remote]
        with transaction.atomic():
            updated = Certificate.objects.filter(
                pk=certificate.pk, status=CertificateStatus.ACTIVE
            ).update(status=certificate_status)
            if updated:
                _follow(certificate, reward_status, note=f"{remote} at {certificate.issuer}")
        changed += updated
    return changed
