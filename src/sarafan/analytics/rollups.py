"""Daily rollups: DailyStat and DailyActor rows recomputed from raw, and the watermark moved.

One run for a project and mode (`roll_up`) recomputes, in this order:

1. older days that changed since the previous run: an order or a share that arrived late
   (the shop sends occurred_at, which may be long past), a refunded order, a reward whose
   status moved (a cancellation takes it out of the cost), a referral made for a
   participant who joined earlier (the participant moves to its channel);
2. the requested days (by default the last SARAFAN_ROLLUP_LOOKBACK_DAYS, so late clicks and
   the like are caught), and every day not rolled up yet: from the first day with data on
   the first run, or after TIME_ZONE changed, which throws the old rows away.

Days go in batches of at most BATCH_DAYS; each batch is read from raw and replaces its days'
rows in one transaction, under a row lock on the RollupState, so two runs never interleave
their writes and a reader sees a day's old rows or its new ones, never a mix. The
watermark moves with each batch that continues it, so a long first run that is stopped
resumes where it was. Today is never rolled up: the summary always reads it raw.
"""

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from sarafan.core.schemas import EARLIEST, EARLIEST_DAY
from sarafan.links.models import Click
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.referrals.models import ReferralStatus
from sarafan.rewards.models import Reward, RewardEvent
from sarafan.tracking.models import Event, EventType, Order

from .models import DailyActor, DailyStat, Role, RollupState
from .sources import (
    CELL,
    CLICKS,
    ORDERS,
    PARTICIPANTS,
    REFERRALS,
    REWARDS,
    SHARES,
    Window,
    cell_keys,
    click_figures,
    order_figures,
    participant_figures,
    reward_figures,
)

DEFAULT_LOOKBACK_DAYS = 3
BATCH_DAYS = 31
# Changes are looked for from this long before the previous run started, so that a row
# written by a transaction still open then is not missed.
CHANGE_MARGIN = timedelta(minutes=10)


def lookback_days() -> int:
    return int(getattr(settings, "SARAFAN_ROLLUP_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS))


def roll_up(*, project: Project, livemode: bool, since: date | None, today: date) -> int:
    """One project's and mode's run (see the module docstring); returns the days recomputed."""
    started = timezone.now()
    zone = timezone.get_default_timezone()
    state = _current_state(project, livemode)
    requested = since if since is not None else today - timedelta(days=lookback_days())
    if state.complete_until is None:  # nothing rolled up yet: all days, rows of any day go
        clear_from, first = date.min, _earliest_day(project, livemode) or today
    elif requested < state.complete_until:
        clear_from = first = requested
        if since is not None:  # asked for: it may reach far before the first day with data
            first = max(requested, _earliest_day(project, livemode) or today)
    else:
        clear_from = first = state.complete_until
    # Nothing before EARLIEST_DAY is rolled up (the API refuses such dates; a row stored
    # before it did is left out): a walk from year 1 would take 24 000 batches.
    first = min(max(first, EARLIEST_DAY), today)
    changed: set[date] = set()
    if state.checked_at is not None:
        after = state.checked_at - CHANGE_MARGIN
        changed = _changed_days(project, livemode, after, state.reward_event_mark)
    mark = _reward_event_mark(project, livemode, state.reward_event_mark, started)
    older = _runs(sorted(day for day in changed if day < first))
    batches = [*older, *_split(first, today)]
    for start, end in batches:
        window = Window(project, livemode, start, end, zone)
        # The first batch of the requested days also clears the days before it that no
        # longer have data.
        _replace(window, clear_from=clear_from if start == first else start, started=started)
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(pk=state.pk)
        if first == today:  # no day to recompute: clear the days asked for, if any
            _clear(project, livemode, day__gte=clear_from, day__lt=today)
        state.complete_until = today  # every day before it was just rolled up
        state.checked_at = started
        state.reward_event_mark = mark
        state.save()
    return sum((end - start).days + 1 for start, end in batches)


def _current_state(project: Project, livemode: bool) -> RollupState:
    """The pair's state, emptied (with its rows) if it was built in another time zone."""
    zone_name = timezone.get_default_timezone_name()
    state, _ = RollupState.objects.get_or_create(
        project=project, livemode=livemode, defaults={"time_zone": zone_name}
    )
    if state.time_zone == zone_name:
        return state
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(pk=state.pk)
        _clear(project, livemode)
        state.time_zone = zone_name
        state.complete_until = None
        state.checked_at = None
        state.save()
    return state


def _replace(window: Window, *, clear_from: date, started: datetime) -> None:
    """Replace the rows of the window's days with what the raw tables say now."""
    scope = {"project": window.project, "livemode": window.livemode}
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(**scope)
        _clear(window.project, window.livemode, day__gte=clear_from, day__lte=window.end)
        DailyStat.objects.bulk_create(_cells(window), batch_size=1000)
        for rows in _actors(window):
            _insert_actors(rows)
        # A first run rolls up from the first day with data: nothing before it is missing.
        if state.complete_until is None or state.complete_until >= window.start:
            following = window.end + timedelta(days=1)
            state.complete_until = max(state.complete_until or following, following)
        if state.checked_at is None:
            # A first run stopped half-way resumes later; changes after it started were
            # not in what it read.
            state.checked_at = started
        state.save()


def _clear(project: Project, livemode: bool, **days: date) -> None:
    DailyStat.objects.filter(project=project, livemode=livemode, **days).delete()
    DailyActor.objects.filter(project=project, livemode=livemode, **days).delete()


def _cells(window: Window) -> list[DailyStat]:
    """The window's DailyStat rows: each table's figures per day and cell, merged."""
    parts = [
        (window.participants(), PARTICIPANTS, participant_figures()),
        (window.clicks(), CLICKS, click_figures()),
        (window.orders(), ORDERS, order_figures()),
        (window.rewards(), REWARDS, reward_figures()),
    ]
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    for queryset, source, figures in parts:
        keyed = queryset.annotate(**cell_keys(source, window.zone))
        for row in keyed.values(*CELL).annotate(**figures).order_by():
            cell = tuple(row.pop(name) for name in CELL)
            cells.setdefault(cell, {}).update(
                (name, value) for name, value in row.items() if value is not None
            )
    return [
        DailyStat(
            project=window.project,
            livemode=window.livemode,
            day=day,
            campaign=campaign,
            channel=channel,
            partner_id=partner,
            **figures,
        )
        for (day, campaign, channel, partner), figures in cells.items()
    ]


# DailyActor's columns, by the alias each has in the query that computes it.
_ACTOR_COLUMNS = {
    "a_project": "project_id",
    "a_livemode": "livemode",
    "a_role": "role",
    "cell_day": "day",
    "cell_campaign": "campaign",
    "cell_channel": "channel",
    "cell_partner": "partner_id",
    "a_person": "participant_id",
    "events": "events",
    "signups": "signups",
}


def _actors(window: Window) -> list[QuerySet[Any]]:
    """The window's DailyActor rows, as one query per role."""
    signed_up = Count("pk", filter=~Q(status=ReferralStatus.REJECTED))
    roles = [
        (Role.REFERRER, window.referrals(), REFERRALS, "referrer", signed_up),
        (Role.REFEREE, window.referrals(), REFERRALS, "referee", Value(0)),
        (Role.SHARER, window.shares(), SHARES, "participant", Value(0)),
    ]
    return [
        queryset.annotate(
            a_project=Value(window.project.pk),
            a_livemode=Value(window.livemode),
            a_role=Value(role.value),
            **cell_keys(source, window.zone),
            a_person=F(person),
        )
        .values("a_project", "a_livemode", "a_role", *CELL, "a_person")
        .annotate(events=Count("pk"), signups=signups)
        .order_by()
        for role, queryset, source, person, signups in roles
    ]


def _insert_actors(rows: QuerySet[Any]) -> None:
    """INSERT … SELECT: the rows go from the raw tables to DailyActor inside the database."""
    compiler = rows.query.get_compiler(using=rows.db)
    select, params = compiler.as_sql()
    columns = [_ACTOR_COLUMNS[alias] for _expression, _sql, alias in compiler.select]
    connection = connections[rows.db]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(DailyActor._meta.db_table)}"
            f" ({', '.join(map(quote, columns))}) {select}",
            params,
        )


def _local_day(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _earliest_day(project: Project, livemode: bool) -> date | None:
    """The first day since EARLIEST_DAY any rolled-up table has a row on, or None when
    they are all empty."""
    scope = {"project": project, "livemode": livemode}
    # Rows dated before it are not read at all: PostgreSQL stores what an offset pushes
    # before year 1 as a BC date, which Python cannot even represent.
    firsts = [
        model.objects.filter(**scope, **{f"{column}__gte": EARLIEST}).aggregate(first=Min(column))[
            "first"
        ]
        for model, column in (
            (Participant, "created_at"),
            (Click, "created_at"),
            (Order, "occurred_at"),
            (Reward, "created_at"),
        )
    ]
    days = [day for day in map(_local_day, firsts) if day is not None]
    return min(days, default=None)


def _days(queryset: QuerySet[Any], timestamp: str) -> set[date]:
    zone = timezone.get_default_timezone()
    return set(
        queryset.filter(**{f"{timestamp}__gte": EARLIEST})
        .annotate(changed_day=TruncDate(timestamp, tzinfo=zone))
        .order_by()
        .values_list("changed_day", flat=True)
        .distinct()
    )


def _changed_days(project: Project, livemode: bool, after: datetime, mark: int) -> set[date]:
    """Days whose rolled-up figures may have changed through rows written after `after`."""
    scope = {"project": project, "livemode": livemode}
    arrived = Event.objects.filter(**scope, created_at__gte=after)
    refunded = arrived.filter(type=EventType.REFUND)
    return (
        # Orders and shares go by occurred_at, which the shop may send days late.
        _days(Order.objects.filter(**scope, event__created_at__gte=after), "occurred_at")
        | _days(arrived.filter(type=EventType.SHARE), "occurred_at")
        | _days(
            Order.objects.filter(**scope, order_id__in=refunded.values("order_id")),
            "occurred_at",
        )
        # A referral puts its referee, who may have joined long ago, in its channel.
        | _days(
            Participant.objects.filter(**scope, referrals_received__created_at__gte=after),
            "created_at",
        )
        | _reward_days(project, livemode, after, mark)
    )


def _reward_days(project: Project, livemode: bool, after: datetime, mark: int) -> set[date]:
    """Days of the rewards whose status moved after `after` (their history says so)."""
    # The history has no index on its time: its ids, above the last run's mark, narrow it.
    moved = RewardEvent.objects.filter(
        pk__gt=mark,
        created_at__gte=after,
        reward__project=project,
        reward__livemode=livemode,
    )
    return _days(Reward.objects.filter(pk__in=moved.values("reward")), "created_at")


def _reward_event_mark(project: Project, livemode: bool, mark: int, started: datetime) -> int:
    """The last reward history row the next run need not read again.

    Rows from the last CHANGE_MARGIN are read again next time: a transaction still open
    now may commit a row with a lower id later.
    """
    newest = RewardEvent.objects.filter(
        pk__gt=mark,
        created_at__lt=started - CHANGE_MARGIN,
        reward__project=project,
        reward__livemode=livemode,
    ).aggregate(newest=Max("pk"))["newest"]
    return int(newest or mark)


def _split(first: date, today: date) -> list[tuple[date, date]]:
    """[first, today) as inclusive (start, end) batches of at most BATCH_DAYS."""
    batches = []
    start = first
    while start < today:
        end = min(start + timedelta(days=BATCH_DAYS - 1), today - timedelta(days=1))
        batches.append((start, end))
        start = end + timedelta(days=1)
    return batches


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as inclusive (start, end) runs of consecutive days, each a batch."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if (
            runs
            and day == runs[-1][1] + timedelta(days=1)
            and (day - runs[-1][0]).days < BATCH_DAYS
        ):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
