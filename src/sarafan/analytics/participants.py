"""A participant's own figures: clicks on their links, people they brought, paid orders of
those people and the money they earned (the `stats` of the participants API)."""

from decimal import Decimal
from typing import TypedDict

from django.db.models import Sum

from sarafan.links.models import Click
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.tracking.models import Order, OrderStatus

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


def participant_stats(*, participant: Participant) -> ParticipantStats:
    """Clicks on their links, people they brought, paid orders of those people, money earned
    (four counting queries)."""
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
