"""The analytics summary through daily rollups against the raw tables alone.

    flock /tmp/bench.lock .venv/bin/python benchmarks/analytics.py [--clicks N] [--runs N]
                                                                   [--keep]

Creates the PostgreSQL database `sarafan_bench_analytics` (dropping an old one), migrates
it, seeds one project over the last 90 days in SQL (generate_series): 50 000 participants
with a primary link each and 50 partners with a partner link, 1 000 000 clicks, 30 000
referrals, 200 000 events (30 000 signups, 60 000 orders, 100 000 shares, 10 000
refunds), 60 000 orders and 60 000 rewards. It then times the first rollup (every day)
and a periodic one (the lookback), runs ANALYZE as autovacuum soon would, and times the
summary (p50 / p95 of --runs calls after one warm-up) for group_by=day and
group_by=channel over 30 and 90 days and group_by=campaign over 90 days, read through the
rollups and from the raw tables alone (services.raw_summary), with the ratio. Both answers
must be equal. The database is dropped at the end unless --keep is given. About two
minutes."""

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from harness import pg

DATABASE = "sarafan_bench_analytics"
DAYS = 90
PARTICIPANTS = 50_000
REFERRERS = 5_000
PARTNERS = 50
REFERRALS = 30_000
SHARES = 100_000
SIGNUPS, ORDERS, REFUNDS = REFERRALS, 2 * REFERRALS, REFERRALS // 3


def _setup(data_dir: str) -> None:
    pg.recreate_database(DATABASE)
    os.environ.update(
        DATABASE_URL=f"{pg.SERVER}/{DATABASE}",
        SARAFAN_DATA_DIR=data_dir,
        SARAFAN_DEBUG="0",
        SARAFAN_DB_POOL="0",
        DJANGO_SETTINGS_MODULE="sarafan.settings",
    )
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.utils import timezone

    from sarafan.core.partitions import add_months, ensure_partitions, month_start

    first = add_months(month_start(timezone.now().date()), -4)
    ensure_partitions(today=first, months_ahead=7)


def _copies(template: Any, source: str, where: str = "true", **columns: str) -> int:
    """Copy `template` once per row of `source` in one INSERT … SELECT; `columns` differ."""
    from django.db import connection

    meta = type(template)._meta
    quote = connection.ops.quote_name
    names = [f.column for f in meta.concrete_fields if not f.primary_key]
    values = [columns.pop(name, f"t.{quote(name)}") for name in names]
    assert not columns, f"not columns of {meta.db_table}: {sorted(columns)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, names))})"
            f" SELECT {', '.join(values)} FROM {quote(meta.db_table)} t, {source}"
            f" WHERE t.id = {template.pk} AND ({where})"
        )
        return int(cursor.rowcount)


def _spread(n: str) -> str:
    """A moment in the last DAYS days picked by a row number, every minute of the day used."""
    return f"now() - (({n})::bigint * 7919 % {DAYS * 24 * 60}) * interval '1 minute'"


def _participant_code(n: str) -> str:
    return f"'B' || lpad(({n})::text, 9, '0')"


def _seed(clicks: int) -> dict[str, int]:
    """The project's rows; returns how many of each were written.

    Seeded public ids have a "-" after their prefix, which generated ids never have, so a
    `LIKE 'prt-%'` picks seeded rows and never a template.
    """
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from sarafan.campaigns.models import Campaign
    from sarafan.links.models import Click, Link
    from sarafan.participants.models import Participant
    from sarafan.projects.services import create_project
    from sarafan.referrals.models import Referral
    from sarafan.rewards.models import Reward
    from sarafan.tracking.models import Event, Order

    project, _keys = create_project(name="Bench")
    a, b = (
        Campaign.objects.create(project=project, name=name, landing_url="https://shop.example/")
        for name in ("A", "B")
    )
    now = timezone.now()
    counts: dict[str, int] = {}
    person = Participant.objects.create(
        project=project,
        external_id="template",
        referral_code="TEMPLATE",
    )
    with connection.cursor() as cursor:
        # A bulk load: the copies are consistent by construction, so no foreign key is
        # checked row by row (the triggers that check them are off for this session).
        cursor.execute("SET session_replication_role = replica")
    counts["participants"] = _copies(
        person,
        f"generate_series(0, {PARTICIPANTS - 1}) AS s(n)",
        public_id="'prt-' || s.n",
        external_id="'p' || s.n",
        referral_code=_participant_code("s.n"),
        created_at=_spread("s.n"),
    )
    link = Link.objects.create(
        project=project, participant=person, campaign=a, code="TEMPLATE", is_primary=True
    )
    seeded = "participants_participant s"
    counts["links"] = _copies(
        link,
        seeded,
        where="s.public_id LIKE 'prt-%'",
        public_id="'lnk-' || s.id",
        participant_id="s.id",
        campaign_id=f"CASE WHEN s.id % 2 = 0 THEN {a.pk} ELSE {b.pk} END",
        channel="'link'",
        code="s.referral_code",
        created_at="s.created_at",
    )
    counts["links"] += _copies(
        link,
        seeded,
        where=f"s.public_id LIKE 'prt-%' AND substr(s.external_id, 2)::int < {PARTNERS}",
        public_id="'lnk-partner-' || s.id",
        participant_id="s.id",
        campaign_id=str(b.pk),
        channel="'partner'",
        code="'PRT' || substr(s.external_id, 2)",
        is_primary="false",
        created_at="s.created_at",
    )
    # Every tenth click comes through a partner link, the rest through a referrer's own.
    which_link = (
        f"CASE WHEN g.n % 10 = 0 THEN 'PRT' || (g.n / 10 % {PARTNERS})"
        f" ELSE {_participant_code(f'g.n * 7 % {REFERRERS}')} END"
    )
    click = Click.objects.create(
        project=project, link=link, participant=person, campaign=a, visitor_id="v"
    )
    counts["clicks"] = _copies(
        click,
        f"generate_series(0, {clicks - 1}) AS g(n) JOIN links_link l ON l.code = {which_link}",
        link_id="l.id",
        participant_id="l.participant_id",
        campaign_id="l.campaign_id",
        channel="CASE WHEN l.channel = 'partner' THEN 'partner'"
        " ELSE (ARRAY['link', 'email', 'telegram', 'vk', 'qr'])[g.n % 5 + 1] END",
        visitor_id="'visitor-' || g.n",
        created_at=_spread("g.n"),
    )
    # Referee REFERRERS + n was brought by a partner (every tenth) or by a referrer.
    referral = Referral.objects.create(
        project=project, campaign=a, referrer=person, referee=person, source="code"
    )
    referrer_code = (
        f"CASE WHEN g.n % 10 = 0 THEN 'PRT' || (g.n / 10 % {PARTNERS})"
        f" ELSE {_participant_code(f'g.n * 13 % {REFERRERS}')} END"
    )
    counts["referrals"] = _copies(
        referral,
        f"generate_series(0, {REFERRALS - 1}) AS g(n)"
        f" JOIN links_link l ON l.code = {referrer_code}"
        f" JOIN participants_participant r ON r.external_id = 'p' || ({REFERRERS} + g.n)"
        f" AND r.project_id = {project.pk}",
        public_id="'ref-' || g.n",
        campaign_id="l.campaign_id",
        referrer_id="l.participant_id",
        referee_id="r.id",
        link_id="l.id",
        channel="CASE WHEN l.channel = 'partner' THEN 'partner'"
        " ELSE (ARRAY['link', 'email', 'telegram'])[g.n % 3 + 1] END",
        status="CASE WHEN g.n % 50 = 0 THEN 'rejected' ELSE 'qualified' END",
        created_at=_spread("g.n * 3"),
    )
    event = Event.objects.create(project=project, type="signup", occurred_at=now)
    referrals = "referrals_referral r"
    mine = "r.public_id LIKE 'ref-%'"
    counts["events"] = _copies(
        event,
        referrals,
        where=mine,
        public_id="'evt-s-' || r.id",
        participant_id="r.referee_id",
        referral_id="r.id",
        channel="r.channel",
        occurred_at="r.created_at",
        created_at="r.created_at",
    )
    # A first order a day after the signup and a repeat order nine days later, both paid
    # by then; a third of the first orders are refunded the day after.
    later = "LEAST(r.created_at + k.after * interval '1 day', now())"
    counts["events"] += _copies(
        event,
        f"{referrals} CROSS JOIN (VALUES (1, 'o1-'), (10, 'o2-')) AS k(after, prefix)",
        where=mine,
        public_id="'evt-o-' || k.prefix || r.id",
        type="'order'",
        participant_id="r.referee_id",
        referral_id="r.id",
        order_id="k.prefix || r.id",
        amount="1000 + r.id % 50 * 100",
        occurred_at=later,
        created_at=later,
    )
    counts["events"] += _copies(
        event,
        f"generate_series(0, {SHARES - 1}) AS g(n)"
        " JOIN participants_participant s ON s.external_id = 'p' || (g.n * 17 % 5000)"
        f" AND s.project_id = {project.pk}",
        public_id="'evt-sh-' || g.n",
        type="'share'",
        participant_id="s.id",
        channel="(ARRAY['telegram', 'vk', 'email', 'whatsapp'])[g.n % 4 + 1]",
        payload="CASE WHEN g.n % 5 = 0 THEN"
        f" jsonb_build_object('campaign', '{b.public_id}') ELSE '{{}}'::jsonb END",
        occurred_at=_spread("g.n * 11"),
        created_at=_spread("g.n * 11"),
    )
    refunded_at = "LEAST(r.created_at + interval '2 days', now())"
    counts["events"] += _copies(
        event,
        referrals,
        where=f"{mine} AND r.id % 3 = 0",
        public_id="'evt-r-' || r.id",
        type="'refund'",
        participant_id="r.referee_id",
        referral_id="r.id",
        order_id="'o1-' || r.id",
        occurred_at=refunded_at,
        created_at=refunded_at,
    )
    placed = Order.objects.create(
        project=project,
        order_id="template",
        event=event,
        participant=person,
        amount=Decimal("1000.00"),
        occurred_at=now,
    )
    counts["orders"] = _copies(
        placed,
        "tracking_event e",
        where=f"e.type = 'order' AND e.project_id = {project.pk} AND e.public_id LIKE 'evt-o-%'",
        order_id="e.order_id",
        event_id="e.id",
        participant_id="e.participant_id",
        referral_id="e.referral_id",
        amount="e.amount",
        is_first="e.order_id LIKE 'o1-%'",
        status="CASE WHEN e.order_id LIKE 'o1-%' AND e.referral_id % 3 = 0"
        " THEN 'refunded' ELSE 'paid' END",
        occurred_at="e.occurred_at",
    )
    reward = Reward.objects.create(
        project=project,
        campaign=a,
        recipient=person,
        amount=Decimal("500.00"),
        available_at=now,
        dedupe_key="template",
        status="issued",
    )
    counts["rewards"] = _copies(
        reward,
        "tracking_order o JOIN referrals_referral r ON r.id = o.referral_id",
        where=f"o.is_first AND o.project_id = {project.pk} AND o.order_id LIKE 'o1-%'",
        public_id="'rwd-o-' || o.id",
        campaign_id="r.campaign_id",
        referral_id="r.id",
        recipient_id="r.referrer_id",
        order_id="o.id",
        status="CASE WHEN o.status = 'refunded' THEN 'cancelled' ELSE 'issued' END",
        dedupe_key="'order:' || o.id",
        created_at="o.occurred_at",
    )
    counts["rewards"] += _copies(
        reward,
        referrals,
        where=f"{mine} AND r.status <> 'rejected'",
        public_id="'rwd-s-' || r.id",
        campaign_id="r.campaign_id",
        referral_id="r.id",
        recipient_id="r.referee_id",
        amount="300",
        dedupe_key="'signup:' || r.id",
        created_at="r.created_at",
    )
    with connection.cursor() as cursor:
        cursor.execute("RESET session_replication_role")
    for template in (reward, placed, event, referral, click, link, person):
        template.delete()  # the copies stay
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts["project"] = project.pk
    return counts


def _timed(call: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    answer = call()  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds, answer


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9, help="timed calls per figure")
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sarafan-bench-analytics-") as data_dir:
        try:
            _setup(data_dir)
            _run(args, started)
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep:
                pg.drop_database(DATABASE)
    return 0


FIGURES = [("day", 30), ("day", 90), ("channel", 30), ("channel", 90), ("campaign", 90)]


def _run(args: argparse.Namespace, started: float) -> None:
    from django.db import connection
    from django.utils import timezone

    from sarafan.analytics.models import DailyActor, DailyStat
    from sarafan.analytics.services import raw_summary, rollup_days, summary
    from sarafan.projects.models import Project

    seeding = time.perf_counter()
    counts = _seed(args.clicks)
    seeded = time.perf_counter()
    project = Project.objects.get(pk=counts.pop("project"))
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, database {DATABASE}")
    print(
        f"seeded in {seeded - seeding:.1f} s: "
        + ", ".join(f"{count:,} {name}" for name, count in counts.items())
    )
    first = time.perf_counter()
    days = rollup_days(project=project)
    periodic = time.perf_counter()
    rollup_days(project=project)
    done = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum does soon after the first rollup
    print(
        f"first rollup: {days} days in {periodic - first:.2f} s"
        f" ({DailyStat.objects.count():,} DailyStat rows,"
        f" {DailyActor.objects.count():,} DailyActor rows);"
        f" periodic rollup (lookback): {done - periodic:.2f} s"
    )
    print()
    header = (
        f"{'summary':<23}{'rollups p50':>12}{'p95':>9}{'raw p50':>11}{'p95':>9}{'raw/rollups':>13}"
    )
    print(header)
    print("-" * len(header))
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    for group_by, period in FIGURES:
        query = {
            "project": project,
            "livemode": False,
            "date_from": today - timedelta(days=period - 1),
            "date_to": today,
            "group_by": group_by,
        }
        rolled, rolled_answer = _timed(lambda q=query: summary(**q), args.runs)
        raw, raw_answer = _timed(lambda q=query: raw_summary(**q), args.runs)
        assert rolled_answer == raw_answer, f"rollups differ from raw: {group_by}, {period}"
        name = f"group_by={group_by}, {period} d"
        ratio = statistics.median(raw) / statistics.median(rolled)
        print(
            f"{name:<23}{_p(rolled, 0.5):>9.1f} ms{_p(rolled, 0.95):>6.1f} ms"
            f"{_p(raw, 0.5):>8.1f} ms{_p(raw, 0.95):>6.1f} ms{ratio:>12.1f}x"
        )
    print(f"\n{args.runs} timed calls per figure after one warm-up; answers compared equal.")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
