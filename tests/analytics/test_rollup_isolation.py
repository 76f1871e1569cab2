"""One project's data never stops the rollup of the others, and a year-1 row stored before
dates were bounded is left out instead of breaking (SQLite) or stalling (PostgreSQL) it."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client

from sarafan.analytics.models import DailyStat, RollupState
from sarafan.analytics.services import rollup_days
from sarafan.analytics.tasks import rollup_analytics
from sarafan.projects.services import create_project
from sarafan.tracking.models import Order
from tests.analytics.support import dated, moment, today
from tests.conftest import ApiClient
from tests.factories import create_campaign, create_referrer, order


def _program(api: ApiClient) -> None:
    """A campaign, a referrer and a friend's paid order, all three days ago."""
    with dated(moment(3)):
        create_campaign(api)
        code = create_referrer(api, "anna")["referral_code"]
        assert order(api, "boris", "o-1", code=code).status_code == 201


def _rolled_up(project) -> int:
    return DailyStat.objects.filter(project=project, day__lt=today()).count()


@contextmanager
def refused_rollup_rows(project_id: int) -> Iterator[None]:
    """The database refuses this project's rollup rows, as a broken table or disk would."""
    table = DailyStat._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION sarafan_test_refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'rollup rows refused'; END; $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER sarafan_test_refuse BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN (NEW.project_id = {project_id}) EXECUTE FUNCTION sarafan_test_refuse()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER sarafan_test_refuse BEFORE INSERT ON {table} "
                f"WHEN NEW.project_id = {project_id} "
                "BEGIN SELECT RAISE(ABORT, 'rollup rows refused'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS sarafan_test_refuse ON {table}")
                cursor.execute("DROP FUNCTION IF EXISTS sarafan_test_refuse()")
            else:
                cursor.execute("DROP TRIGGER IF EXISTS sarafan_test_refuse")


# As in the worker: no transaction around the task, each batch of days commits on its own.
@pytest.mark.django_db(transaction=True)
def test_a_project_whose_rollup_fails_does_not_stop_the_others(caplog):
    broken, broken_keys = create_project(name="Broken")
    fine, fine_keys = create_project(name="Fine")
    _program(ApiClient(Client(), broken_keys["secret_key_test"]))
    _program(ApiClient(Client(), fine_keys["secret_key_test"]))

    with refused_rollup_rows(broken.pk), caplog.at_level(logging.ERROR, "sarafan.sweeps"):
        rollup_analytics.call()

    assert _rolled_up(fine) > 0
    assert RollupState.objects.get(project=fine, livemode=False).complete_until == today()
    assert _rolled_up(broken) == 0
    [record] = [r for r in caplog.records if r.name == "sarafan.sweeps"]
    assert record.getMessage() == (
        f"analytics rollup failed for project {broken.public_id}; the other projects go on"
    )
    # Once the fault is gone, the next run rolls the project up like any other.
    rollup_days()
    assert _rolled_up(broken) == _rolled_up(fine)


def test_a_failing_project_inside_a_transaction_leaves_it_usable(api, project):
    """Called inside a transaction (a test, a shell), the failed part is rolled back to its
    savepoint and the rest still runs."""
    other, other_keys = create_project(name="Other")
    _program(api)
    _program(ApiClient(Client(), other_keys["secret_key_test"]))
    with refused_rollup_rows(project.pk):
        rollup_days()
    assert (_rolled_up(project), _rolled_up(other) > 0) == (0, True)


def test_a_year_one_order_already_stored_is_left_out(api, project):
    _program(api)
    Order.objects.update(occurred_at=datetime(1, 1, 1, 5, tzinfo=UTC))
    days = rollup_days()
    assert 0 < days < 100  # from the first day since 2000 with data, not from year 1
    assert RollupState.objects.get(project=project, livemode=False).complete_until == today()
    assert _rolled_up(project) > 0
    # The order arrived now: the next run looks at the day it says it happened, and skips it.
    assert rollup_days() < 100


@pytest.mark.usefixtures("on_postgres")
def test_a_time_stored_before_year_one_is_left_out(api, project):
    """PostgreSQL keeps 0001-01-01T00:00+14:00 as 1 BC, which Python cannot represent."""
    _program(api)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Order._meta.db_table} SET occurred_at = "
            "'0001-01-01T00:00:00+14:00'::timestamptz"
        )
    assert 0 < rollup_days() < 100
    assert rollup_days() < 100
    assert _rolled_up(project) > 0
