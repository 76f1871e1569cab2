"""Monthly partitions of clicks and events on PostgreSQL, and deletions that still cascade."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.utils import timezone

from sarafan.core.partitions import (
    PARTITIONED_TABLES,
    add_months,
    default_partition_name,
    ensure_partitions,
    month_start,
    partition_name,
)
from sarafan.core.tasks import ensure_partitions as ensure_partitions_task
from sarafan.links.models import Click, Link
from sarafan.participants.models import Participant
from sarafan.projects.models import Project
from sarafan.site.schedule import DAY, periodic_tasks
from sarafan.tracking.models import Event, Order
from tests.factories import create_campaign, create_referrer, order, signup

on_postgres = pytest.mark.usefixtures("on_postgres")


@contextmanager
def clock(at: datetime) -> Iterator[None]:
    """Make timezone.now() (and with it auto_now_add) answer `at`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: at)
        yield


def this_month() -> date:
    return month_start(datetime.now(UTC).date())


def midmonth(month: date) -> datetime:
    return datetime(month.year, month.month, 15, 12, tzinfo=UTC)


def home_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def partitions_of(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
            [table],
        )
        return {row[0] for row in cursor.fetchall()}


def click_on(code: str, visitor_id: str) -> Click:
    """A click written through the ORM: the redirect may queue its clicks before writing."""
    link = Link.objects.get(code=code)
    return Click.objects.create(
        project=link.project,
        link=link,
        participant=link.participant,
        campaign=link.campaign,
        channel=link.channel,
        visitor_id=visitor_id,
    )


def visit_and_order(api, code: str, customer: str, order_id: str) -> tuple[Click, Event]:
    """A click on the referrer's link, then the visitor's referred paid order."""
    click = click_on(code, f"visitor-{customer}")
    placed = order(api, customer, order_id, code=code)
    assert placed.status_code == 201, placed.content
    return click, Event.objects.get(public_id=placed.json()["id"])


@on_postgres
@pytest.mark.django_db
def test_after_migrate_clicks_and_events_are_partitioned_by_month():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partrelid::regclass::text, partstrat FROM pg_partitioned_table"
            " WHERE partrelid = ANY(%s::regclass[])",
            [list(PARTITIONED_TABLES)],
        )
        assert dict(cursor.fetchall()) == {"tracking_event": "r", "links_click": "r"}
        cursor.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'p' AND conrelid = ANY(%s::regclass[])",
            [list(PARTITIONED_TABLES)],
        )
        keys = dict(cursor.fetchall())
    assert keys == dict.fromkeys(PARTITIONED_TABLES, "PRIMARY KEY (id, created_at)")
    months = [add_months(this_month(), ahead) for ahead in range(4)]
    for table in PARTITIONED_TABLES:
        expected = {partition_name(table, m) for m in months} | {default_partition_name(table)}
        assert expected <= partitions_of(table)


@on_postgres
@pytest.mark.django_db
def test_clicks_and_events_land_in_their_month_and_far_future_in_default(api):
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    far = add_months(this_month(), 120)
    cases = [(this_month(), "p"), (add_months(this_month(), 1), "p"), (far, "default")]
    for index, (month, kind) in enumerate(cases):
        with clock(midmonth(month)):
            click, event = visit_and_order(api, code, f"c{index}", f"o{index}")
        for table, row in (("links_click", click), ("tracking_event", event)):
            expected = partition_name(table, month) if kind == "p" else f"{table}_default"
            assert home_of(table, row.pk) == expected
            assert row.created_at == midmonth(month)


@on_postgres
@pytest.mark.django_db
def test_ensure_partitions_is_idempotent():
    assert ensure_partitions() == []  # migrate already made them
    start = add_months(this_month(), 200)
    created = ensure_partitions(today=start, months_ahead=2)
    assert sorted(created) == sorted(
        partition_name(table, add_months(start, ahead))
        for table in PARTITIONED_TABLES
        for ahead in range(3)
    )
    assert ensure_partitions(today=start, months_ahead=2) == []


@on_postgres
@pytest.mark.django_db
def test_a_new_partition_takes_over_the_rows_default_held(api):
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    month = add_months(this_month(), 60)
    with clock(midmonth(month)):
        click, event = visit_and_order(api, code, "c1", "o1")
    assert home_of("tracking_event", event.pk) == "tracking_event_default"

    created = ensure_partitions(today=month, months_ahead=0)

    assert sorted(created) == sorted(partition_name(t, month) for t in PARTITIONED_TABLES)
    assert home_of("tracking_event", event.pk) == partition_name("tracking_event", month)
    assert home_of("links_click", click.pk) == partition_name("links_click", month)
    assert Event.objects.get(pk=event.pk).public_id == event.public_id
    assert Click.objects.filter(pk=click.pk).count() == 1
    assert Order.objects.get(event=event).order_id == "o1"


@pytest.fixture
def dropped_afterwards() -> Iterator[list[str]]:
    """Partitions a transactional test creates are real tables: drop them when it ends."""
    names: list[str] = []
    yield names
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_create_each_partition_once(dropped_afterwards):
    start = add_months(this_month(), 300)
    barrier = threading.Barrier(2)
    results: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = ensure_partitions(today=start, months_ahead=3)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = [
        partition_name(table, add_months(start, ahead))
        for table in PARTITIONED_TABLES
        for ahead in range(4)
    ]
    dropped_afterwards.extend(expected)
    assert errors == []
    assert sorted(results[0] + results[1]) == sorted(expected)  # each made once, by one run
    assert [] in results
    for table in PARTITIONED_TABLES:
        assert {partition_name(table, add_months(start, a)) for a in range(4)} <= partitions_of(
            table
        )


@on_postgres
@pytest.mark.django_db
def test_orm_reads_by_id_and_the_order_event_relation_work(api):
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    click, event = visit_and_order(api, code, "c1", "o1")
    assert Event.objects.get(pk=event.pk) == event
    assert Click.objects.get(pk=click.pk).link.code == code
    placed = Order.objects.select_related("event").get(order_id="o1")
    assert placed.event == event
    assert Event.objects.get(pk=event.pk).order == placed
    assert Order.objects.filter(event__public_id=event.public_id).get() == placed
    # Ids keep coming from one sequence across partitions.
    _, later = visit_and_order(api, code, "c2", "o2")
    assert later.pk > event.pk


# The deletions below run on SQLite and PostgreSQL alike: Order.event has no database
# foreign key any more, so Django's collector alone must keep them what they were.


@pytest.mark.django_db
def test_deleting_an_event_deletes_its_order(api):
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    _, event = visit_and_order(api, code, "c1", "o1")
    event.delete()
    assert not Order.objects.filter(order_id="o1").exists()


@pytest.mark.django_db
def test_deleting_a_participant_deletes_their_clicks_and_orders_and_keeps_events(api):
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    click, event = visit_and_order(api, code, "c1", "o1")
    assert signup(api, "c2", code).status_code == 201

    Participant.objects.get(external_id="c1").delete()

    assert not Order.objects.filter(order_id="o1").exists()
    kept = Event.objects.get(pk=event.pk)
    assert kept.participant_id is None
    assert Click.objects.filter(pk=click.pk).exists()  # the click is the referrer's

    Participant.objects.get(external_id="u-7").delete()

    assert not Click.objects.filter(pk=click.pk).exists()


@pytest.mark.django_db
def test_deleting_a_project_deletes_its_clicks_events_and_orders(api, project):
    # Without referrals: their campaigns are PROTECTed, which stops a project's deletion
    # (unchanged by partitioning).
    create_campaign(api)
    code = create_referrer(api)["referral_code"]
    click_on(code, "visitor-1")
    assert order(api, "c1", "o1").status_code == 201
    assert (Click.objects.count(), Event.objects.count(), Order.objects.count()) == (1, 1, 1)
    other = Project.objects.create(name="Other")

    project.delete()

    assert not Click.objects.exists()
    assert not Event.objects.exists()
    assert not Order.objects.exists()
    assert Project.objects.filter(pk=other.pk).exists()


@pytest.mark.django_db
def test_the_worker_ensures_partitions_daily():
    assert (DAY, ensure_partitions_task.enqueue) in periodic_tasks()


@on_postgres
@pytest.mark.django_db
def test_the_task_recreates_a_missing_month():
    missing = partition_name("links_click", add_months(this_month(), 3))
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{missing}"')
    assert ensure_partitions_task.call() == [missing]
    assert missing in partitions_of("links_click")
