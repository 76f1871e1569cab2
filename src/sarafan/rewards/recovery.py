"""Certificate e-mails a crash lost, found and sent by a periodic sweep (README, "Certificate
e-mails").

Two losses, both taken for lost once SARAFAN_DELIVERY_GRACE_SECONDS have passed:
- a send claimed and never finished: the worker died during the SMTP round trip. The claim
  is taken over and the e-mail sent again (delivery.take_over);
- an issued reward due an e-mail that has no delivery at all: its task was lost (the web
  process died between the commit and the enqueue) or never ran. It is delivered as the
  task would have, for rewards issued within RECOVERY_WINDOW (older ones are left to the
  console's resend, so turning e-mails on for a project mails no old certificates).
The claims of rewards/delivery.py keep each e-mail to one send however many sweeps and
tasks run at once. Each project is swept apart and each reward on its own: one that fails
is logged and skipped.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from .delivery import deliver, take_over
from .models import (
    CertificateStatus,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Reward,
    RewardStatus,
)

logger = logging.getLogger("sarafan.rewards.recovery")

RECOVERY_WINDOW = timedelta(days=3)
# E-mails recovered per project and sweep: a project with many keeps the others waiting
# no longer than this many sends.
BATCH = 200


def recover_deliveries(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Send once the e-mails that crashes interrupted or lost; returns how many went out."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SARAFAN_DELIVERY_GRACE_SECONDS)
    interrupted = Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=cutoff)
    lost = _lost(now=now, cutoff=cutoff)
    projects = set(_projects(interrupted)) | set(_projects(lost))
    sent = 0
    for project_id in sorted(projects):
        try:
            taken = interrupted.filter(project_id=project_id).order_by("claimed_at", "pk")
            sent += _each(
                taken.values_list("pk", flat=True)[:batch],
                lambda pk: take_over(pk, now=now, claimed_before=cutoff),
                "the interrupted delivery",
            )
            due = lost.filter(project_id=project_id).order_by("issued_at", "pk")
            sent += _each(
                due.values_list("pk", flat=True)[:batch],
                lambda pk: _sent(deliver(pk)),
                "the lost e-mail of reward",
            )
        except Exception:
            logger.exception("could not recover the e-mails of project %s", project_id)
    return sent


def _projects(rows: QuerySet[Delivery] | QuerySet[Reward]) -> Iterable[int]:
    return rows.order_by().values_list("project_id", flat=True).distinct()


def _lost(*, now: datetime, cutoff: datetime) -> QuerySet[Reward]:
    """Issued rewards due a certificate e-mail that no attempt was made to send."""
    return (
        Reward.objects.filter(
            status=RewardStatus.ISSUED,
            issued_at__lt=cutoff,
            issued_at__gte=now - RECOVERY_WINDOW,
            # A reward paid in a bank reward's certificate goes out with the bank reward.
            banked_into__isnull=True,
            project__email_rewards=True,
            recipient__erased_at__isnull=True,
            certificate__status=CertificateStatus.ACTIVE,
            certificate__expires_at__gt=now,
        )
        .exclude(recipient__email="")
        # A failed send is an attempt made: the console shows it and can resend.
        .exclude(
            Exists(
                Delivery.objects.filter(
                    reward=OuterRef("pk"),
                    project_id=OuterRef("project_id"),
                    kind=DeliveryKind.CERTIFICATE,
                )
            )
        )
    )


def _each(pks: Iterable[int], recover: Callable[[int], bool], what: str) -> int:
    sent = 0
    for pk in list(pks):
        try:
            sent += recover(pk)
        except Exception:
            logger.exception("could not recover %s %s", what, pk)
    return sent


def _sent(delivery: Delivery | None) -> bool:
    return delivery is not None and delivery.status == DeliveryStatus.SENT
