"""Analytics use cases: the program's summary over a period, and the daily rollups behind it.

The summary is a pure read. Every figure comes from a fixed set of aggregate queries
(selectors.py, actors.py), so the cost does not grow with the number of rows: the days
before the rollup watermark are read from the daily rollups (models.py) and only the days
from it on from the raw tables, so the answer is what the raw rows say as of the last
rollup. Each row is placed in the period by its own timestamp, read in
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

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.core.errors import InvalidRequest
from sarafan.core.money import money_str
from sarafan.core.sweeps import isolated
from sarafan.projects.models import Project

from . import rollups
from .selectors import Row, summary_figures

# Share of referred revenue that is profit, used by ROI. A later issue makes it a project
# setting; until then revenue counts in full.
MARGIN = Decimal("1.0")
# Channel spend entered by the business arrives with a later issue; the field is kept.
SPEND = Decimal(0)
DEFAULT_PERIOD_DAYS = 30
GROUPINGS = ("channel", "partner", "campaign", "day", "week", "month")
RATE_PLACES = 4

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
    return _summary(
        project=project,
        livemode=livemode,
        campaign=campaign,
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        rollups=True,
    )


def raw_summary(
    *,
    project: Project,
    livemode: bool,
    campaign: Campaign | None = None,
    date_from: date,
    date_to: date,
    group_by: str | None = None,
) -> dict[str, Any]:
    """The same summary read from the raw tables alone: what the rollups must answer."""
    return _summary(
        project=project,
        livemode=livemode,
        campaign=campaign,
        date_from=date_from,
        date_to=date_to,
        group_by=group_by,
        rollups=False,
    )


def _summary(
    *,
    project: Project,
    livemode: bool,
    campaign: Campaign | None,
    date_from: date,
    date_to: date,
    group_by: str | None,
    rollups: bool,
) -> dict[str, Any]:
    if date_from > date_to:
        raise InvalidRequest("'from' must not be after 'to'.", code="invalid_period", param="from")
    if group_by is not None and group_by not in GROUPINGS:
        raise InvalidRequest(
            f"group_by must be one of {', '.join(GROUPINGS)}.",
            code="invalid_value",
            param="group_by",
        )
    totals, collected = summary_figures(
        project=project,
        livemode=livemode,
        campaign=campaign,
        start=date_from,
        end=date_to,
        group_by=group_by,
        rollups=rollups,
    )
    groups = [
        {"key": key, **_metrics(collected[key])}
        for key in sorted(collected, key=lambda k: (k is None, k or ""))
    ]
    return {
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "totals": _metrics(totals),
        "groups": groups,
    }


def rollup_days(*, project: Project | None = None, since: date | None = None) -> int:
    """Recompute the daily rollups from the raw tables; returns the days recomputed.

    For each project (all of them by default) and mode: the days from `since` (default: the
    last SARAFAN_ROLLUP_LOOKBACK_DAYS) up to yesterday, every earlier day not rolled up yet
    (all of them the first time, or after a change of TIME_ZONE), and the earlier days whose
    rows changed since the previous run. Each batch of days is replaced in one transaction;
    at the end every day before today is rolled up, and the summary reads raw only from today.
    """
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    projects = [project] if project is not None else list(Project.objects.order_by("pk"))
    days = 0
    for each in projects:
        # One project whose data breaks its rollup does not hold the others' back.
        with isolated("analytics rollup", project=each.public_id):
            for livemode in (False, True):
                days += rollups.roll_up(project=each, livemode=livemode, since=since, today=today)
    return days


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
