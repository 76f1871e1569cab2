"""Reads of referrals that lower apps are handed (they do not import referrals)."""

from collections.abc import Callable
from datetime import datetime

from .models import Referral


def referred_since(
    *, project_id: int, livemode: bool, referrer_id: int
) -> Callable[[datetime], int]:
    """How many referrals a referrer brought since a moment: the velocity stop-rule's count."""

    def count(since: datetime) -> int:
        return Referral.objects.filter(
            project_id=project_id,
            livemode=livemode,
            referrer_id=referrer_id,
            created_at__gte=since,
        ).count()

    return count
