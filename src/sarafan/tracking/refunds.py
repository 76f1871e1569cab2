"""The refund-rate flag: a referrer whose referred orders are refunded too often."""

from django.db.models import Count, Q

from sarafan.fraud.config import fraud_settings
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral

from .models import Order, OrderStatus

HIGH_REFUND_RATE = "high_refund_rate"


def check_refund_rate(referral: Referral) -> bool:
    """After a refund: flag the referrer whose referred orders are refunded too often.

    Counts paid orders of all the referrer's referees; the campaign decides the threshold
    and the least number of orders before the rate means anything.
    """
    config = fraud_settings(referral.campaign)
    orders = Order.objects.filter(
        project_id=referral.project_id,
        livemode=referral.livemode,
        referral__referrer_id=referral.referrer_id,
    ).aggregate(total=Count("id"), refunded=Count("id", filter=Q(status=OrderStatus.REFUNDED)))
    total, refunded = orders["total"], orders["refunded"]
    if total < config.refund_rate_min_orders or refunded / total <= config.refund_rate_threshold:
        return False
    referrer = Participant.objects.get(pk=referral.referrer_id)
    if HIGH_REFUND_RATE not in referrer.risk_flags:
        referrer.risk_flags = [*referrer.risk_flags, HIGH_REFUND_RATE]
        referrer.save(update_fields=["risk_flags", "updated_at"])
    return True
