"""The console's front page: the program's headline numbers, test and live side by side,
and what waits for someone (cases in review, alerts nobody acknowledged, rewards that
cannot be issued, pools running out, people nearing the gift-tax threshold).

Eleven grouped aggregate queries whatever the number of rows; per-channel and per-period
figures (K-factor, CAC, ROI) belong to the analytics pages.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Model, QuerySet, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from sarafan.alerts.models import Alert
from sarafan.links.models import Click
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral, ReferralStatus
from sarafan.rewards.models import Certificate, CertificatePool, Reward, RewardStatus, Waiting
from sarafan.rewards.tax import with_tax_state
from sarafan.tracking.models import Order, OrderStatus

# Rewards that did not and will not cost money.
NOT_PAID = (RewardStatus.REJECTED, RewardStatus.CANCELLED, RewardStatus.EXPIRED)


@dataclass
class Figure:
    title: str | Promise
    value: str
    link: str = ""
    # Something waits for someone: the card is drawn as a warning while the value is not 0.
    attention: bool = False


@dataclass
class ModeSummary:
    livemode: bool
    title: str | Promise
    figures: list[Figure] = field(default_factory=list)
    moderation: list[Figure] = field(default_factory=list)


def _counts(queryset: QuerySet[Any]) -> dict[bool, int]:
    rows = queryset.order_by().values("livemode").annotate(n=Count("pk"))
    return {row["livemode"]: row["n"] for row in rows}


def _reward_sums() -> dict[bool, dict[str, Decimal]]:
    rows = (
        Reward.objects.exclude(status__in=NOT_PAID)
        .order_by()
        .values("livemode", "currency")
        .annotate(total=Sum("amount"))
    )
    sums: dict[bool, dict[str, Decimal]] = {False: {}, True: {}}
    for row in rows:
        sums[row["livemode"]][row["currency"]] = row["total"] or Decimal(0)
    return sums


def _number(value: int | Decimal, places: int | None = None) -> str:
    return number_format(value, decimal_pos=places, force_grouping=True)


def _money(by_currency: dict[str, Decimal]) -> str:
    if not by_currency:
        return _number(0, 2)
    return "; ".join(
        f"{_number(amount, 2)} {currency}" for currency, amount in sorted(by_currency.items())
    )


def _changelist(model: type[Model], livemode: bool, **filters: str) -> str:
    meta = model._meta
    query = "&".join(
        [f"livemode__exact={int(livemode)}", *(f"{k}={v}" for k, v in filters.items())]
    )
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist") + "?" + query


def mode_summaries() -> list[ModeSummary]:
    participants = _counts(Participant.objects.all())
    clicks = _counts(Click.objects.filter(is_bot=False))
    signups = _counts(Referral.objects.all())
    paid_orders = _counts(Order.objects.filter(status=OrderStatus.PAID))
    certificates = _counts(Certificate.objects.all())
    in_review = _counts(Referral.objects.filter(status=ReferralStatus.REVIEW))
    alerts = _counts(Alert.objects.filter(acknowledged_at__isnull=True))
    # Approved rewards stuck for want of codes, an issuer or tax details (not the bank or a
    # recipient's choice, which wait by design).
    stuck = _counts(
        Reward.objects.filter(
            status=RewardStatus.APPROVED,
            waiting__in=[
                Waiting.POOL_EMPTY,
                Waiting.ISSUER,
                Waiting.ISSUER_FAILED,
                Waiting.TAX_DETAILS,
            ],
        )
    )
    low_pools = _counts(CertificatePool.objects.filter(low_stock_alerted_at__isnull=False))
    near_tax = _counts(with_tax_state(Participant.objects.all(), "near"))
    rewards = _reward_sums()
    summaries = []
    for livemode, title in ((False, _("Test mode")), (True, _("Live mode"))):
        summaries.append(
            ModeSummary(
                livemode=livemode,
                title=title,
                figures=[
                    Figure(
                        _("Participants"),
                        _number(participants.get(livemode, 0)),
                        _changelist(Participant, livemode),
                    ),
                    Figure(
                        _("Clicks"), _number(clicks.get(livemode, 0)), _changelist(Click, livemode)
                    ),
                    Figure(
                        _("Signups (referrals)"),
                        _number(signups.get(livemode, 0)),
                        _changelist(Referral, livemode),
                    ),
                    Figure(
                        _("Paid orders"),
                        _number(paid_orders.get(livemode, 0)),
                        _changelist(Order, livemode, status__exact=OrderStatus.PAID),
                    ),
                    Figure(
                        _("Rewards, amount"),
                        _money(rewards[livemode]),
                        _changelist(Reward, livemode),
                    ),
                    Figure(
                        _("Certificates issued"),
                        _number(certificates.get(livemode, 0)),
                        _changelist(Certificate, livemode),
                    ),
                ],
                moderation=[
                    Figure(
                        _("Cases in review"),
                        _number(in_review.get(livemode, 0)),
                        reverse("admin:referrals_referral_queue")
                        + f"?mode={'live' if livemode else 'test'}",
                        attention=bool(in_review.get(livemode)),
                    ),
                    Figure(
                        _("Unacknowledged alerts"),
                        _number(alerts.get(livemode, 0)),
                        _changelist(Alert, livemode, acknowledged="no"),
                        attention=bool(alerts.get(livemode)),
                    ),
                    Figure(
                        _("Rewards waiting to be issued"),
                        _number(stuck.get(livemode, 0)),
                        _changelist(Reward, livemode, status__exact=RewardStatus.APPROVED),
                        attention=bool(stuck.get(livemode)),
                    ),
                    Figure(
                        _("Pools low on codes"),
                        _number(low_pools.get(livemode, 0)),
                        _changelist(CertificatePool, livemode),
                        attention=bool(low_pools.get(livemode)),
                    ),
                    Figure(
                        _("People near the gift-tax threshold"),
                        _number(near_tax.get(livemode, 0)),
                        _changelist(Participant, livemode, tax="near"),
                        attention=bool(near_tax.get(livemode)),
                    ),
                ],
            )
        )
    return summaries


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """UNFOLD["DASHBOARD_CALLBACK"]: adds the per-mode figures to the index page."""
    context["mode_summaries"] = mode_summaries()
    return context
