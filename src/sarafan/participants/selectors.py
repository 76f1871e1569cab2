"""Participant reads shared by the API, the events engine and the portal."""

from decimal import Decimal
from typing import TypedDict

from django.db.models import Sum

from sarafan.core.errors import NotFound
from sarafan.links.models import Click
from sarafan.projects.models import Project
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.tracking.models import Order, OrderStatus

from .models import Participant

# Rewards that are (or were) really owed to the participant, as opposed to pending or refused.
EARNED_STATUSES = (
    RewardStatus.APPROVED,
    RewardStatus.ISSUED,
    RewardStatus.DELIVERED,
    RewardStatus.REDEEMED,
)


class ParticipantStats(TypedDict):
    clicks: int
    signups: int
    orders: int
    rewards_amount: Decimal


def get_participant(*, project: Project, livemode: bool, external_id: str) -> Participant | None:
    """The participant a key of this project and mode may see; erased ones keep no external_id."""
    return Participant.objects.filter(
        project=project, livemode=livemode, external_id=external_id
    ).first()


def find_participant(
    *, project: Project, livemode: bool, external_id: str, param: str
) -> Participant:
    """The participant a caller named, or NotFound naming the parameter that named them."""
    participant = get_participant(project=project, livemode=livemode, external_id=external_id)
    if participant is None:
        raise NotFound(f"No participant '{external_id}'.", param=param)
    return participant


def participant_stats(*, participant: Participant) -> ParticipantStats:
    """Clicks on their links, people they brought, paid orders of those people, money earned."""
    earned = Reward.objects.filter(recipient=participant, status__in=EARNED_STATUSES).aggregate(
        total=Sum("amount")
    )["total"]
    return {
        # Bots' and crawlers' clicks are recorded but never counted.
        "clicks": Click.objects.filter(participant=participant, is_bot=False).count(),
        "signups": Referral.objects.filter(referrer=participant).count(),
        "orders": Order.objects.filter(
            referral__referrer=participant, status=OrderStatus.PAID
        ).count(),
        "rewards_amount": earned or Decimal(0),
    }
