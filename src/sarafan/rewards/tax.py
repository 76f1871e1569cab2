"""Yearly reward totals per person against the gift-tax threshold (README, "Gift tax").

Gifts to a person from a company above 4 000 ₽ a year are taxable income in Russia. Each
project keeps a threshold (Project.tax_threshold): the console warns from
`tax_warn_percent` of it, and with `tax_hold` a reward that would take a person past it
waits (`waiting = tax_details`) until the person's tax details are recorded
(waiting.record_tax_details).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from sarafan.core.money import MoneyField
from sarafan.participants.models import Participant
from sarafan.projects.models import Project

from .models import Reward, RewardStatus, Waiting

S = RewardStatus
# Rewards a person has received (a certificate was issued), whatever happened after.
RECEIVED = (S.ISSUED, S.DELIVERED, S.REDEEMED, S.EXPIRED)
MAX_DETAILS = 500


def year_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def yearly_total(*, project_id: int, livemode: bool, recipient_id: int) -> Decimal:
    """What the person received this calendar year (the installation's time zone)."""
    total = Reward.objects.filter(
        project_id=project_id,
        livemode=livemode,
        recipient_id=recipient_id,
        status__in=RECEIVED,
        issued_at__gte=year_start(),
    ).aggregate(total=Sum("amount"))["total"]
    return Decimal(total or 0).quantize(Decimal("0.01"))


def over_threshold(reward: Reward, project: Project) -> bool:
    """Would issuing this reward take a person without tax details past the threshold?"""
    recipient = reward.recipient
    if recipient.tax_details_at is not None:
        return False
    received = yearly_total(
        project_id=reward.project_id, livemode=reward.livemode, recipient_id=reward.recipient_id
    )
    return received + reward.amount > project.tax_threshold


@dataclass(frozen=True)
class TaxStatus:
    year_total: Decimal
    threshold: Decimal
    state: str  # "ok", "near" (past the warning share) or "over"
    details_recorded: bool
    held: int  # rewards waiting for the tax details (none once they are recorded)


def state_of(total: Decimal, project: Project) -> str:
    if total > project.tax_threshold:
        return "over"
    if total * 100 >= project.tax_threshold * project.tax_warn_percent:
        return "near"
    return "ok"


def tax_status(participant: Participant, project: Project) -> TaxStatus:
    total = yearly_total(
        project_id=participant.project_id,
        livemode=participant.livemode,
        recipient_id=participant.pk,
    )
    # Once the details are recorded no reward waits for them: the ones still marked so are
    # being resumed by the worker (waiting.record_tax_details).
    held = 0
    if participant.tax_details_at is None:
        held = Reward.objects.filter(
            recipient=participant, status=S.APPROVED, waiting=Waiting.TAX_DETAILS
        ).count()
    return TaxStatus(
        year_total=total,
        threshold=project.tax_threshold,
        state=state_of(total, project),
        details_recorded=participant.tax_details_at is not None,
        held=held,
    )


def with_tax_state(participants: QuerySet[Participant], state: str) -> QuerySet[Participant]:
    """Those whose rewards this year are past the warning share ("near") or the threshold
    ("over") of their project."""
    received = (
        Reward.objects.filter(
            recipient=OuterRef("pk"), status__in=RECEIVED, issued_at__gte=year_start()
        )
        .order_by()
        .values("recipient")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    annotated = participants.annotate(
        year_total=Coalesce(Subquery(received), Decimal(0), output_field=MoneyField())
    )
    if state == "over":
        return annotated.filter(year_total__gt=F("project__tax_threshold"))
    return annotated.filter(
        year_total__gte=F("project__tax_threshold") * F("project__tax_warn_percent") / 100
    )
