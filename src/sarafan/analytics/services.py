"""The analytics summary: the program's funnel and economics over a period, optionally grouped.

A pure read. Every figure comes from a fixed set of aggregate queries (one per source table
for the totals, one more per table for the groups), so the cost does not grow with the
number of rows. Each row is placed in the period by its own timestamp, read in
settings.TIME_ZONE.

Definitions that are not obvious from API.md:

- `participants` are Participant rows created in the period. With a campaign (as a filter,
  or as the grouping) they are instead the distinct referrers and referees of that
  campaign's referrals created in the period, so `group_by=campaign` rows equal what the
  campaign filter answers.
- Keys: `channel` is the click's, the share's, or the referral's (for participants,
  signups, orders and rewards); `partner` is the external_id of the participant who owns
  the partner-channel link the traffic came through, null for all other traffic; `day`,
  `week` (its Monday) and `month` (its first day) are dates. A key that is unknown (no
  channel, no campaign, not partner traffic) is null.
- Counted rows (participants outside campaign mode, clicks, shares, signups, orders,
  revenue, rewards cost) add up over the groups to the totals; distinct counts
  (active referrers, sharers) and the ratios are recomputed for each group and do not.
- K-factor's participant base is `participants`, or `active_referrers` when no participant
  falls in the period; with invitations (clicks + shares) above zero it equals
  first_orders / base.
- Only groups with some activity are listed; empty days are not filled in.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.core.errors import InvalidRequest
from sarafan.core.money import money_str
from sarafan.links.models import Channel, Click, Link
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.referrals.models import Referral, ReferralStatus
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.tracking.models import Event, EventType, Order, OrderStatus

# Share of referred revenue that is profit, used by ROI. A later issue makes it a project
# setting; until then revenue counts in full.
MARGIN = Decimal("1.0")
# Channel spend entered by the business arrives with a later issue; the field is kept.
SPEND = Decimal(0)
DEFAULT_PERIOD_DAYS = 30
GROUPINGS = ("channel", "partner", "campaign", "day", "week", "month")
# Rewards that cost, or will cost, the business money.
COST_STATUSES = (
    RewardStatus.PENDING,
    RewardStatus.REVIEW,
    RewardStatus.APPROVED,
    RewardStatus.ISSUED,
    RewardStatus.DELIVERED,
    RewardStatus.REDEEMED,
)
RATE_PLACES = 4

_TOTAL = "__total__"  # the one row an ungrouped query answers
_COUNTS = (
    "participants",
    "active_referrers",
    "clicks",
    "shares",
    "sharers",
    "signups",
    "first_orders",
    "repeat_orders",
)

type Row = dict[str, Any]


@dataclass(frozen=True)
class _Source:
    """Where a table keeps what the groupings need, as ORM paths from its rows."""

    timestamp: str
    channel: str
    campaign: Callable[[], Combinable]  # the campaign's public id
    partner_link_channel: str  # the channel of the link the traffic came through
    partner_id: str  # the external_id of that link's owner


_PARTICIPANTS = _Source(
    timestamp="created_at",
    channel="referrals_received__channel",
    campaign=lambda: F("referrals_received__campaign__public_id"),
    partner_link_channel="referrals_received__link__channel",
    partner_id="referrals_received__link__participant__external_id",
)
_REFERRALS = _Source(
    timestamp="created_at",
    channel="channel",
    campaign=lambda: F("campaign__public_id"),
    partner_link_channel="link__channel",
    partner_id="link__participant__external_id",
)
_CLICKS = _Source(
    timestamp="created_at",
    channel="channel",
    campaign=lambda: F("campaign__public_id"),
    partner_link_channel="link__channel",
    partner_id="link__participant__external_id",
)


def _share_campaign() -> Combinable:
    """A share's campaign: the one its event named, else the sharer's primary link's."""
    primary = Link.objects.filter(participant=OuterRef("participant"), is_primary=True)
    return Coalesce(
        KT("payload__campaign"),
        Subquery(primary.order_by("pk").values("campaign__public_id")[:1]),
        output_field=CharField(),
    )


_SHARES = _Source(
    timestamp="occurred_at",
    channel="channel",
    campaign=_share_campaign,
    # A share has no link; a share made on the partner channel is that partner's traffic.
    partner_link_channel="channel",
    partner_id="participant__external_id",
)
_ORDERS = _Source(
    timestamp="occurred_at",
    channel="referral__channel",
    campaign=lambda: F("referral__campaign__public_id"),
    partner_link_channel="referral__link__channel",
    partner_id="referral__link__participant__external_id",
)
_REWARDS = _Source(
    timestamp="created_at",
    channel="referral__channel",
    campaign=lambda: F("campaign__public_id"),
    partner_link_channel="referral__link__channel",
    partner_id="referral__link__participant__external_id",
)


def default_period(*, today: date | None = None) -> tuple[date, date]:
    """The last 30 days, today included, in settings.TIME_ZONE."""
    end = today or timezone.localdate()
    return end - timedelta(days=DEFAULT_PERIOD_DAYS - 1), end


def summary(
    *,
    project: Project,
    livemode: bool,
    campaign: Campaign | None = None,
    date_from: date,
    date_to: date,
    group_by: str | None = None,
) -> dict[str, Any]:
    """API.md's analytics summary for one project and mode, `date_from`–`date_to` inclusive."""
    if date_from > date_to:
        raise InvalidRequest("'from' must not be after 'to'.", code="invalid_period", param="from")
    if group_by is not None and group_by not in GROUPINGS:
        raise InvalidRequest(
            f"group_by must be one of {', '.join(GROUPINGS)}.",
            code="invalid_value",
            param="group_by",
        )
    query = _Query(
        project=project, livemode=livemode, campaign=campaign, start=date_from, end=date_to
    )
    totals = query.collect(group_by=None)[_TOTAL]
    groups: list[Row] = []
    if group_by is not None:
        collected = query.collect(group_by=group_by)
        groups = [
            {"key": key, **_metrics(collected[key])}
            for key in sorted(collected, key=lambda k: (k is None, k or ""))
        ]
    return {
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "totals": _metrics(totals),
        "groups": groups,
    }


class _Query:
    """The summary's sources scoped to one project, mode, period and (maybe) campaign."""

    def __init__(
        self, *, project: Project, livemode: bool, campaign: Campaign | None, start: date, end: date
    ) -> None:
        zone = timezone.get_default_timezone()
        self.zone = zone
        self.scope = {"project": project, "livemode": livemode}
        self.campaign = campaign
        self.since = datetime.combine(start, time.min, tzinfo=zone)
        self.until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)

    def _in_period(self, source: _Source) -> Q:
        return Q(**{f"{source.timestamp}__gte": self.since, f"{source.timestamp}__lt": self.until})

    def _key(self, source: _Source, group_by: str) -> Combinable:
        """The grouping key as SQL; never NULL, so keys can be compared in subqueries."""
        if group_by == "day":
            return TruncDate(source.timestamp, tzinfo=self.zone)
        if group_by == "week":
            return TruncWeek(source.timestamp, tzinfo=self.zone)
        if group_by == "month":
            return TruncMonth(source.timestamp, tzinfo=self.zone)
        if group_by == "channel":
            return Coalesce(F(source.channel), Value(""), output_field=CharField())
        if group_by == "campaign":
            return Coalesce(source.campaign(), Value(""), output_field=CharField())
        return Case(
            When(**{source.partner_link_channel: Channel.PARTNER}, then=F(source.partner_id)),
            default=Value(""),
            output_field=CharField(),
        )

    def _keyed(self, queryset: QuerySet[Any], source: _Source, group_by: str | None) -> Any:
        if group_by is None:
            return queryset
        return queryset.annotate(group_key=self._key(source, group_by))

    @staticmethod
    def _rows(
        queryset: QuerySet[Any], *, grouped: bool, **aggregates: Any
    ) -> dict[str | None, Row]:
        """One aggregate query: a single _TOTAL row, or a row per `group_key` annotation."""
        if not grouped:
            return {_TOTAL: queryset.aggregate(**aggregates)}
        rows = queryset.values("group_key").annotate(**aggregates).order_by()
        return {_key_str(row.pop("group_key")): row for row in rows}

    def collect(self, *, group_by: str | None) -> dict[str | None, Row]:
        """Raw counts and sums per key (or under _TOTAL), merged over all sources."""
        by_referrals = self.campaign is not None or group_by == "campaign"
        parts = [
            self._referrals(group_by, with_participants=by_referrals),
            self._clicks(group_by),
            self._shares(group_by),
            self._orders(group_by),
            self._rewards(group_by),
        ]
        if not by_referrals:
            parts.append(self._participants(group_by))
        merged: dict[str | None, Row] = {_TOTAL: {}} if group_by is None else {}
        for part in parts:
            for key, values in part.items():
                merged.setdefault(key, {}).update(values)
        return merged

    def _participants(self, group_by: str | None) -> dict[str | None, Row]:
        queryset = Participant.objects.filter(self._in_period(_PARTICIPANTS), **self.scope)
        queryset = self._keyed(queryset, _PARTICIPANTS, group_by)
        return self._rows(queryset, grouped=group_by is not None, participants=Count("pk"))

    def _referral_set(self, group_by: str | None) -> QuerySet[Referral]:
        queryset = Referral.objects.filter(self._in_period(_REFERRALS), **self.scope)
        if self.campaign is not None:
            queryset = queryset.filter(campaign=self.campaign)
        return self._keyed(queryset, _REFERRALS, group_by)

    def _referrals(self, group_by: str | None, *, with_participants: bool) -> dict[str | None, Row]:
        queryset = self._referral_set(group_by)
        aggregates: dict[str, Any] = {
            "active_referrers": Count("referrer", distinct=True),
            "signups": Count("pk", filter=~Q(status=ReferralStatus.REJECTED)),
        }
        if with_participants:
            # Referrers ∪ referees = referrers + referees − those who are both. A referee has
            # one referral, so "both" is counted once per referral whose referee also referred
            # someone within the same set and key.
            referred_others = self._referral_set(group_by).filter(referrer=OuterRef("referee"))
            if group_by is not None:
                referred_others = referred_others.filter(Q(group_key=OuterRef("group_key")))
            queryset = queryset.annotate(referred_others=Exists(referred_others))
            aggregates["referees"] = Count("referee", distinct=True)
            aggregates["both"] = Count("pk", filter=Q(referred_others=True))
        rows = self._rows(queryset, grouped=group_by is not None, **aggregates)
        if with_participants:
            for row in rows.values():
                row["participants"] = (
                    row["active_referrers"] + row.pop("referees") - row.pop("both")
                )
        return rows

    def _clicks(self, group_by: str | None) -> dict[str | None, Row]:
        queryset = Click.objects.filter(self._in_period(_CLICKS), **self.scope)
        if self.campaign is not None:
            queryset = queryset.filter(campaign=self.campaign)
        queryset = self._keyed(queryset, _CLICKS, group_by)
        return self._rows(queryset, grouped=group_by is not None, clicks=Count("pk"))

    def _shares(self, group_by: str | None) -> dict[str | None, Row]:
        queryset = Event.objects.filter(
            self._in_period(_SHARES), type=EventType.SHARE, **self.scope
        )
        if self.campaign is not None:
            queryset = queryset.annotate(share_campaign=_share_campaign()).filter(
                share_campaign=self.campaign.public_id
            )
        queryset = self._keyed(queryset, _SHARES, group_by)
        return self._rows(
            queryset,
            grouped=group_by is not None,
            shares=Count("pk"),
            sharers=Count("participant", distinct=True),
        )

    def _orders(self, group_by: str | None) -> dict[str | None, Row]:
        queryset = Order.objects.filter(
            self._in_period(_ORDERS), status=OrderStatus.PAID, referral__isnull=False, **self.scope
        )
        if self.campaign is not None:
            queryset = queryset.filter(referral__campaign=self.campaign)
        queryset = self._keyed(queryset, _ORDERS, group_by)
        return self._rows(
            queryset,
            grouped=group_by is not None,
            first_orders=Count("pk", filter=Q(is_first=True)),
            repeat_orders=Count("pk", filter=Q(is_first=False)),
            revenue=Sum("amount"),
        )

    def _rewards(self, group_by: str | None) -> dict[str | None, Row]:
        queryset = Reward.objects.filter(
            self._in_period(_REWARDS), status__in=COST_STATUSES, **self.scope
        )
        if self.campaign is not None:
            queryset = queryset.filter(campaign=self.campaign)
        queryset = self._keyed(queryset, _REWARDS, group_by)
        return self._rows(queryset, grouped=group_by is not None, rewards_cost=Sum("amount"))


def _key_str(value: object) -> str | None:
    """A group key as API.md shows it: dates as YYYY-MM-DD, unknown as null."""
    if isinstance(value, datetime):  # truncations come back already in the period's zone
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if value else None


def _ratio(numerator: float | Decimal, denominator: float | Decimal) -> float:
    if not denominator:
        return 0.0
    return round(float(numerator) / float(denominator), RATE_PLACES)


def _metrics(raw: Row) -> Row:
    """Counts and sums → API.md's fields, with the derived rates."""
    counts = {name: int(raw.get(name) or 0) for name in _COUNTS}
    revenue = raw.get("revenue") or Decimal(0)
    rewards_cost = raw.get("rewards_cost") or Decimal(0)
    cost = rewards_cost + SPEND
    participants = counts["participants"]
    new_customers = counts["first_orders"]
    invitations = counts["clicks"] + counts["shares"]
    base = participants or counts["active_referrers"]
    k_factor = 0.0
    if base and invitations:
        k_factor = round((invitations / base) * (new_customers / invitations), RATE_PLACES)
    return {
        "participants": participants,
        "active_referrers": counts["active_referrers"],
        "clicks": counts["clicks"],
        "shares": counts["shares"],
        "signups": counts["signups"],
        "first_orders": new_customers,
        "repeat_orders": counts["repeat_orders"],
        "revenue": money_str(revenue),
        "rewards_cost": money_str(rewards_cost),
        "spend": money_str(SPEND),
        "k_factor": k_factor,
        "cac": money_str(cost / new_customers) if new_customers else money_str(None),
        "roi": _ratio(revenue * MARGIN - cost, cost),
        "participation_rate": _ratio(counts["active_referrers"], participants),
        "share_rate": _ratio(counts["sharers"], participants),
        "conversion_rate": _ratio(new_customers, counts["clicks"]),
    }
