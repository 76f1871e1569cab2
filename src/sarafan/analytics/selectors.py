"""The summary's counts and sums for a period: from rollups where they reach, raw elsewhere.

The days before the project's watermark (RollupState.complete_until) are read from the
rollups, the days from it on from the raw tables; no day is read twice. Additive figures
(new participants, clicks, orders, revenue, rewards cost) are summed from DailyStat and
one query per raw table; the distinct counts, shares and signups come from actors.py,
one query for the totals and one for the groups: eight queries at most.
"""

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.projects.models import Project

from .actors import TOTAL, actor_figures
from .models import DailyStat, RollupState
from .sources import (
    CLICKS,
    ORDERS,
    PARTICIPANTS,
    REWARDS,
    Source,
    Window,
    click_figures,
    group_key,
    order_figures,
    participant_figures,
    reward_figures,
)

# DailyStat's figures; all of them add up over days and cells.
ROLLED = (
    "participants",
    "clicks",
    "first_orders",
    "repeat_orders",
    "revenue",
    "rewards",
    "rewards_cost",
)
# Counts that tell that a cell had a row; `participants` only where they are in the groups.
_ACTIVITY = ("clicks", "first_orders", "repeat_orders", "rewards")
# The DailyStat column each grouping is a function of.
_ROLLED_KEYS = {
    "day": "day",
    "week": "day",
    "month": "day",
    "channel": "channel",
    "campaign": "campaign",
    "partner": "partner__external_id",
}

type Row = dict[str, Any]
type Rows = dict[str | None, Row]


def rolled_up_until(*, project: Project, livemode: bool) -> date | None:
    """The watermark: every day before it is in the rollups, made in today's time zone."""
    return (
        RollupState.objects.filter(
            project=project, livemode=livemode, time_zone=timezone.get_default_timezone_name()
        )
        .values_list("complete_until", flat=True)
        .first()
    )


def summary_figures(
    *,
    project: Project,
    livemode: bool,
    campaign: Campaign | None,
    start: date,
    end: date,
    group_by: str | None,
    rollups: bool = True,
) -> tuple[Row, Rows]:
    """Totals and (when grouped) rows per key of the summary's counts and sums.

    `rollups=False` reads every figure from the raw rows: the reference the rollups are
    tested and benchmarked against.
    """
    window = Window(
        project=project,
        livemode=livemode,
        start=start,
        end=end,
        zone=timezone.get_default_timezone(),
        campaign=campaign,
    )
    merged = _Merged(
        group_by=group_by,
        # With a campaign (as the filter, or as the grouping) participants are its
        # referrers and referees, counted from the referrals.
        participants_in_totals=campaign is None,
        participants_in_groups=campaign is None and group_by != "campaign",
    )
    watermark = rolled_up_until(project=project, livemode=livemode) if rollups else None
    last_rolled_day = watermark - timedelta(days=1) if watermark is not None else None
    raw_from = start
    if last_rolled_day is not None and last_rolled_day >= start:
        merged.add_additive(_rolled(window, min(end, last_rolled_day), group_by))
        raw_from = last_rolled_day + timedelta(days=1)
    if raw_from <= end:
        _add_raw_additive(merged, replace(window, start=raw_from), group_by)
    levels: list[tuple[str | None, bool]] = [(None, merged.participants_in_totals)]
    if group_by is not None:
        levels.append((group_by, merged.participants_in_groups))
    for level, participants_counted in levels:
        figures = actor_figures(
            window,
            last_rolled_day=last_rolled_day,
            group_by=level,
            with_participants=not participants_counted,
        )
        merged.add_distinct(figures)
    return merged.totals, merged.groups


class _Merged:
    """Sums parts into the totals and the groups, keeping the summary's rules on both.

    An additive part (rollups or raw rows) is grouped when the summary is, and its totals
    are the sum of its groups; a distinct part comes as a totals part and a groups part.
    """

    def __init__(
        self, *, group_by: str | None, participants_in_totals: bool, participants_in_groups: bool
    ) -> None:
        self.group_by = group_by
        self.participants_in_totals = participants_in_totals
        self.participants_in_groups = participants_in_groups
        self.totals: Row = {}
        self.groups: Rows = {}

    def add_additive(self, rows: Rows) -> None:
        for key, row in rows.items():
            _add(self.totals, _without_participants(row, keep=self.participants_in_totals))
            if self.group_by is None or key == TOTAL:  # an ungrouped part: totals only
                continue
            grouped = _without_participants(row, keep=self.participants_in_groups)
            counts = (*_ACTIVITY, "participants")
            if any(grouped.get(name) for name in counts):  # only groups with some activity
                _add(self.groups.setdefault(key, {}), grouped)

    def add_distinct(self, rows: Rows) -> None:
        if TOTAL in rows:
            _add(self.totals, rows[TOTAL])
            return
        for key, row in rows.items():
            _add(self.groups.setdefault(key, {}), row)


def _add(target: Row, row: Row) -> None:
    for name, value in row.items():
        if value is not None:
            target[name] = target.get(name, 0) + value


def _without_participants(row: Row, *, keep: bool) -> Row:
    return row if keep else {name: value for name, value in row.items() if name != "participants"}


def key_str(value: object) -> str | None:
    """A group key as API.md shows it: dates as YYYY-MM-DD, unknown as null."""
    if isinstance(value, datetime):  # truncations come back already in the period's zone
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if value else None


def _fold(day: date, group_by: str) -> date:
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    if group_by == "month":
        return day.replace(day=1)
    return day


# --- rollups -------------------------------------------------------------------------------


def _rolled(window: Window, last_day: date, group_by: str | None) -> Rows:
    """DailyStat sums over the window's days up to `last_day`, in one query."""
    queryset = DailyStat.objects.filter(
        project=window.project,
        livemode=window.livemode,
        day__gte=window.start,
        day__lte=last_day,
    )
    if window.campaign is not None:
        queryset = queryset.filter(campaign=window.campaign.public_id)
    sums = {name: Sum(name) for name in ROLLED}
    if group_by is None:
        return {TOTAL: queryset.aggregate(**sums)}
    rows = queryset.values(rolled_key=F(_ROLLED_KEYS[group_by])).annotate(**sums).order_by()
    result: Rows = {}
    for values in rows:
        row: Row = dict(values)
        value = row.pop("rolled_key")
        if _ROLLED_KEYS[group_by] == "day":
            value = _fold(value, group_by)
        _add(result.setdefault(key_str(value), {}), row)
    return result


# --- raw rows ------------------------------------------------------------------------------


def _keyed(window: Window, queryset: QuerySet[Any], source: Source, group_by: str | None) -> Any:
    if group_by is None:
        return queryset
    return queryset.annotate(group_key=group_key(source, group_by, window.zone))


def _rows(queryset: QuerySet[Any], *, grouped: bool, **aggregates: Any) -> Rows:
    """One aggregate query: a single TOTAL row, or a row per `group_key` annotation."""
    if not grouped:
        return {TOTAL: queryset.aggregate(**aggregates)}
    rows = queryset.values("group_key").annotate(**aggregates).order_by()
    return {key_str(row.pop("group_key")): row for row in rows}


def _add_raw_additive(merged: _Merged, window: Window, group_by: str | None) -> None:
    """The additive figures from raw rows, one query per table."""
    grouped = group_by is not None
    parts = [
        (window.clicks(), CLICKS, click_figures()),
        (window.orders(), ORDERS, order_figures()),
        (window.rewards(), REWARDS, reward_figures()),
    ]
    for queryset, source, figures in parts:
        merged.add_additive(
            _rows(_keyed(window, queryset, source, group_by), grouped=grouped, **figures)
        )
    if merged.participants_in_groups:
        queryset = _keyed(window, window.participants(), PARTICIPANTS, group_by)
        merged.add_additive(_rows(queryset, grouped=grouped, **participant_figures()))
    elif merged.participants_in_totals:  # grouped by campaign: new participants in totals only
        merged.add_additive(_rows(window.participants(), grouped=False, **participant_figures()))
