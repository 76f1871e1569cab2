"""The raw tables the analytics read, and the keys each row is grouped under.

Both the summary (reading the raw rows of a period) and the rollups (writing one row per
day and cell) start from the querysets of a `Window` and key them with the same
expressions, so a figure read from a rollup is the figure the raw rows give.

- A row's day is the date of its own timestamp in settings.TIME_ZONE.
- Clicks are people's only: a bot's click (Click.is_bot) is in no figure, raw or rolled up.
- `channel` is the click's, the share's, or the referral's (for participants, orders and
  rewards); `campaign` is the campaign's public id (a share's is the one its event named,
  else the sharer's primary link's); `partner` is the participant who owns the
  partner-channel link the traffic came through, none for all other traffic.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
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

from sarafan.campaigns.models import Campaign
from sarafan.links.models import Channel, Click, Link
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward, RewardStatus
from sarafan.tracking.models import Event, EventType, Order, OrderStatus

# Rewards that cost, or will cost, the business money.
COST_STATUSES = (
    RewardStatus.PENDING,
    RewardStatus.REVIEW,
    RewardStatus.APPROVED,
    RewardStatus.ISSUED,
    RewardStatus.DELIVERED,
    RewardStatus.REDEEMED,
)


@dataclass(frozen=True)
class Source:
    """Where a table keeps what the groupings need, as ORM paths from its rows."""

    timestamp: str
    channel: str
    campaign: Callable[[], Combinable]  # the campaign's public id
    partner_link_channel: str  # the channel of the link the traffic came through
    partner: str  # that link's owner (a participant id)

    @property
    def partner_external_id(self) -> str:
        return f"{self.partner}__external_id"


PARTICIPANTS = Source(
    timestamp="created_at",
    channel="referrals_received__channel",
    campaign=lambda: F("referrals_received__campaign__public_id"),
    partner_link_channel="referrals_received__link__channel",
    partner="referrals_received__link__participant",
)
REFERRALS = Source(
    timestamp="created_at",
    channel="channel",
    campaign=lambda: F("campaign__public_id"),
    partner_link_channel="link__channel",
    partner="link__participant",
)
# A click names its campaign, channel and link as a referral does.
CLICKS = REFERRALS


def share_campaign() -> Combinable:
    """A share's campaign: the one its event named, else the sharer's primary link's."""
    primary = Link.objects.filter(participant=OuterRef("participant"), is_primary=True)
    return Coalesce(
        KT("payload__campaign"),
        Subquery(primary.order_by("pk").values("campaign__public_id")[:1]),
        output_field=CharField(),
    )


SHARES = Source(
    timestamp="occurred_at",
    channel="channel",
    campaign=share_campaign,
    # A share has no link; a share made on the partner channel is that partner's traffic.
    partner_link_channel="channel",
    partner="participant",
)
ORDERS = Source(
    timestamp="occurred_at",
    channel="referral__channel",
    campaign=lambda: F("referral__campaign__public_id"),
    partner_link_channel="referral__link__channel",
    partner="referral__link__participant",
)
REWARDS = Source(
    timestamp="created_at",
    channel="referral__channel",
    campaign=lambda: F("campaign__public_id"),
    partner_link_channel="referral__link__channel",
    partner="referral__link__participant",
)


def day_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


@dataclass(frozen=True)
class Window:
    """One project and mode, the days `start`–`end` (inclusive) in `zone`, maybe one campaign."""

    project: Project
    livemode: bool
    start: date
    end: date
    zone: tzinfo
    campaign: Campaign | None = None

    @property
    def since(self) -> datetime:
        return day_start(self.start, self.zone)

    @property
    def until(self) -> datetime:
        return day_start(self.end + timedelta(days=1), self.zone)

    def _scoped(self, model: Any, source: Source, **filters: Any) -> QuerySet[Any]:
        period = {f"{source.timestamp}__gte": self.since, f"{source.timestamp}__lt": self.until}
        queryset: QuerySet[Any] = model.objects.filter(
            project=self.project, livemode=self.livemode, **period, **filters
        )
        return queryset

    def participants(self) -> QuerySet[Participant]:
        """Participants who joined in the window; no campaign of their own."""
        return self._scoped(Participant, PARTICIPANTS)

    def referrals(self) -> QuerySet[Referral]:
        queryset = self._scoped(Referral, REFERRALS)
        if self.campaign is not None:
            queryset = queryset.filter(campaign=self.campaign)
        return queryset

    def clicks(self) -> QuerySet[Click]:
        """People's clicks: crawlers, link previews and scripts count nowhere."""
        queryset = self._scoped(Click, CLICKS, is_bot=False)
        if self.campaign is not None:
            queryset = queryset.filter(campaign=self.campaign)
        return queryset

    def shares(self) -> QuerySet[Event]:
        queryset = self._scoped(Event, SHARES, type=EventType.SHARE)
        if self.campaign is not None:
            queryset = queryset.annotate(share_campaign=share_campaign()).filter(
                share_campaign=self.campaign.public_id
            )
        return queryset

    def orders(self) -> QuerySet[Order]:
        """Paid orders of referred customers."""
        queryset = self._scoped(Order, ORDERS, status=OrderStatus.PAID, referral__isnull=False)
        if self.campaign is not None:
            queryset = queryset.filter(referral__campaign=self.campaign)
        return queryset

    def rewards(self) -> QuerySet[Reward]:
        """Rewards that cost, or will cost, money."""
        queryset = self._scoped(Reward, REWARDS, status__in=COST_STATUSES)
        if self.campaign is not None:
            queryset = queryset.filter(campaign=self.campaign)
        return queryset


def _is_partner_traffic(source: Source) -> Q:
    return Q(**{source.partner_link_channel: Channel.PARTNER})


def group_key(source: Source, group_by: str, zone: tzinfo) -> Combinable:
    """A summary grouping as SQL; never NULL, so keys can be compared in subqueries."""
    if group_by == "day":
        return TruncDate(source.timestamp, tzinfo=zone)
    if group_by == "week":
        return TruncWeek(source.timestamp, tzinfo=zone)
    if group_by == "month":
        return TruncMonth(source.timestamp, tzinfo=zone)
    if group_by == "channel":
        return Coalesce(F(source.channel), Value(""), output_field=CharField())
    if group_by == "campaign":
        return Coalesce(source.campaign(), Value(""), output_field=CharField())
    return Case(
        When(_is_partner_traffic(source), then=F(source.partner_external_id)),
        default=Value(""),
        output_field=CharField(),
    )


# The dimensions of a rollup row (DailyStat): every summary grouping is a function of them.
CELL = ("cell_day", "cell_campaign", "cell_channel", "cell_partner")


def cell_keys(source: Source, zone: tzinfo) -> dict[str, Combinable]:
    """Annotations that put a row in its rollup cell (names that no model field uses)."""
    return {
        "cell_day": TruncDate(source.timestamp, tzinfo=zone),
        "cell_campaign": Coalesce(source.campaign(), Value(""), output_field=CharField()),
        "cell_channel": Coalesce(F(source.channel), Value(""), output_field=CharField()),
        "cell_partner": Case(
            When(_is_partner_traffic(source), then=F(source.partner)),
            default=Value(None),
            output_field=BigIntegerField(),
        ),
    }


# The additive figures of each rolled-up table, as aggregates over its rows. A reward of
# 0.00 still counts in `rewards`, so every cell with a row has a count above zero.
def participant_figures() -> dict[str, Any]:
    return {"participants": Count("pk")}


def click_figures() -> dict[str, Any]:
    return {"clicks": Count("pk")}


def order_figures() -> dict[str, Any]:
    return {
        "first_orders": Count("pk", filter=Q(is_first=True)),
        "repeat_orders": Count("pk", filter=Q(is_first=False)),
        "revenue": Sum("amount"),
    }


def reward_figures() -> dict[str, Any]:
    return {"rewards": Count("pk"), "rewards_cost": Sum("amount")}
