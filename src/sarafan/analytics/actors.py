"""Who referred, was referred or shared: the summary's distinct counts, shares and signups.

A participant counts once per group however many days they were active, so these figures
cannot be added up over days. They are read from one list of (key, role, participant)
rows: the DailyActor rows of the rolled-up days followed (UNION ALL) by the referrals and
shares of the days after them, and the database counts each participant once per key.
From that list:

- active_referrers: distinct participants who referred (rejected referrals included);
- participants, with a campaign: distinct referrers and referees (counted once when both);
- sharers: distinct participants who shared; shares and signups: sums.
"""

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from django.db import connections
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, TruncWeek

from sarafan.referrals.models import ReferralStatus

from .models import DailyActor, Role
from .sources import REFERRALS, SHARES, Source, Window, group_key

TOTAL = "__total__"  # the one row an ungrouped query answers
DATE_KEYS = ("day", "week", "month")
_ROLLED_KEYS: dict[str, Any] = {
    "day": lambda: F("day"),
    "week": lambda: TruncWeek("day"),
    "month": lambda: TruncMonth("day"),
    "channel": lambda: F("channel"),
    "campaign": lambda: F("campaign"),
    "partner": lambda: Coalesce(F("partner__external_id"), Value("")),
}
# Over (a_key, a_role, a_person, a_events, a_signups) rows, the figures per key. Only
# constants and Django's own SQL go in; values are parameters.
_COUNT = """
SELECT {key}
    {referrers}, {parties}, {sharers},
    SUM(CASE WHEN a_role = 'sharer' THEN a_events ELSE 0 END), SUM(a_signups)
FROM ({rows}) actors
{group}
"""
_ROLES = {
    "referrers": "a_role = 'referrer'",
    "parties": "a_role IN ('referrer', 'referee')",
    "sharers": "a_role = 'sharer'",
}
_FIGURES = ("active_referrers", "participants", "sharers", "shares", "signups")


def actor_figures(
    window: Window, *, last_rolled_day: date | None, group_by: str | None, with_participants: bool
) -> dict[str | None, dict[str, Any]]:
    """The distinct counts (and shares, signups) of the window, in one query.

    Days up to `last_rolled_day` come from DailyActor, the rest from the raw tables. The
    answer is {TOTAL: figures} when not grouped, else figures per key.
    """
    parts = []
    raw_from = window.start
    if last_rolled_day is not None and last_rolled_day >= window.start:
        parts.append(_rolled(window, min(last_rolled_day, window.end), group_by))
        raw_from = last_rolled_day + timedelta(days=1)
    if raw_from <= window.end:
        parts += _raw(replace(window, start=raw_from), group_by)
    rows = parts[0].union(*parts[1:], all=True).order_by() if len(parts) > 1 else parts[0]
    rows_sql, params = rows.query.sql_with_params()
    grouped = group_by is not None
    sql = _COUNT.format(
        key="a_key," if grouped else "",
        rows=rows_sql,
        group="GROUP BY a_key" if grouped else "",
        **{name: _distinct_people(rows.db, where) for name, where in _ROLES.items()},
    )
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    result = {}
    for row in found:
        key = _key(row[0], group_by) if grouped else TOTAL
        figures = dict(zip(_FIGURES, row[1:] if grouped else row, strict=True))
        if not with_participants:
            del figures["participants"]
        result[key] = figures
    return result


def _distinct_people(using: str, where: str) -> str:
    """COUNT(DISTINCT a_person) of the rows `where` holds for."""
    if connections[using].features.supports_aggregate_filter_clause:
        # Faster on PostgreSQL: only those rows are sorted.
        return f"COUNT(DISTINCT a_person) FILTER (WHERE {where})"
    return f"COUNT(DISTINCT CASE WHEN {where} THEN a_person END)"


def _key(value: object, group_by: str | None) -> str | None:
    """A key as API.md shows it: dates as YYYY-MM-DD (whatever type the database gave)."""
    if not value:
        return None
    if group_by in DATE_KEYS:
        return str(value)[:10]
    return str(value)


def _rows(queryset: QuerySet[Any], key: Combinable | None, **columns: Any) -> QuerySet[Any]:
    """The queryset as (a_key, a_role, a_person, a_events, a_signups) rows, in that order."""
    named = {"a_key": key} if key is not None else {}
    named.update(columns)
    return queryset.annotate(**named).values(*named).order_by()


def _rolled(window: Window, last_day: date, group_by: str | None) -> QuerySet[Any]:
    queryset = DailyActor.objects.filter(
        project=window.project, livemode=window.livemode, day__gte=window.start, day__lte=last_day
    )
    if window.campaign is not None:
        queryset = queryset.filter(campaign=window.campaign.public_id)
    key = _ROLLED_KEYS[group_by]() if group_by is not None else None
    return _rows(
        queryset,
        key,
        a_role=F("role"),
        a_person=F("participant"),
        a_events=F("events"),
        a_signups=F("signups"),
    )


def _raw_key(window: Window, source: Source, group_by: str | None) -> Combinable | None:
    if group_by is None:
        return None
    if group_by not in DATE_KEYS:
        return group_key(source, group_by, window.zone)
    day = TruncDate(source.timestamp, tzinfo=window.zone)
    # Truncated from the local date, as the rolled-up days are, so both give one type.
    return {"day": day, "week": TruncWeek(day), "month": TruncMonth(day)}[group_by]


def _raw(window: Window, group_by: str | None) -> list[QuerySet[Any]]:
    one, none = Value(1), Value(0)
    signed_up = Case(When(~Q(status=ReferralStatus.REJECTED), then=one), default=none)
    referrals, shares = window.referrals(), window.shares()
    key = _raw_key(window, REFERRALS, group_by)
    share_key = _raw_key(window, SHARES, group_by)
    return [
        _rows(
            referrals,
            key,
            a_role=Value(Role.REFERRER.value),
            a_person=F("referrer"),
            a_events=one,
            a_signups=signed_up,
        ),
        _rows(
            referrals,
            key,
            a_role=Value(Role.REFEREE.value),
            a_person=F("referee"),
            a_events=one,
            a_signups=none,
        ),
        _rows(
            shares,
            share_key,
            a_role=Value(Role.SHARER.value),
            a_person=F("participant"),
            a_events=one,
            a_signups=none,
        ),
    ]
