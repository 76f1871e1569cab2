"""Two dispatchers at once on PostgreSQL: SKIP LOCKED, each event once, in order per project."""

import threading
from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from sarafan.events.dispatch import dispatch
from sarafan.events.models import OutboxEvent
from sarafan.events.outbox import publish
from sarafan.projects.services import create_project
from tests.events import handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]
H = "tests.events.handlers"


@pytest.fixture(autouse=True)
def _handlers(settings) -> Iterator[None]:
    settings.SARAFAN_EVENT_HANDLERS = {"thing.happened": [f"{H}.slow"]}
    handlers.reset()
    yield
    handlers.reset()
    handlers.slow_seconds = 0.0


def _publish(project, n: int) -> OutboxEvent:
    with transaction.atomic():
        return publish(project, False, "thing.happened", {"n": n})


def _in_thread(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_dispatcher_skips_the_rows_another_holds_and_the_rest_of_that_project():
    held, _ = create_project(name="Held")
    free, _ = create_project(name="Free")
    held_events = [_publish(held, n) for n in range(3)]
    free_events = [_publish(free, n) for n in range(3)]
    locked = threading.Event()
    release = threading.Event()

    def hold_first_row() -> None:
        # Another dispatcher in the middle of its claim: the project's first row locked.
        with transaction.atomic():
            list(OutboxEvent.objects.select_for_update().filter(pk=held_events[0].pk))
            locked.set()
            release.wait(timeout=60)

    holder = _in_thread(hold_first_row)
    try:
        assert locked.wait(timeout=60)
        # Not blocked by the lock: it takes the free project's events and none of the
        # held project's (its later events would go out before its first).
        assert dispatch() == 3
        assert [pk for _, pk in handlers.calls] == [e.pk for e in free_events]
    finally:
        release.set()
        holder.join(timeout=60)
    assert dispatch() == 3
    assert [pk for _, pk in handlers.calls[3:]] == [e.pk for e in held_events]


def test_two_dispatchers_at_once_hand_out_each_event_once_in_order_per_project():
    projects = [create_project(name=f"Shop {n}")[0] for n in range(4)]
    published = [_publish(projects[n % 4], n) for n in range(48)]
    handlers.slow_seconds = 0.01
    start = threading.Barrier(2)
    counts: list[int] = []

    def run() -> None:
        start.wait(timeout=60)
        counts.append(dispatch(batch=4))

    threads = [_in_thread(run) for _ in range(2)]
    for thread in threads:
        thread.join(timeout=120)
    # A dispatcher that found every project held by the other stops early; the sweep
    # takes what is left (here: this pass).
    counts.append(dispatch())
    assert sum(counts) == 48
    called = [pk for _, pk in handlers.calls]
    assert sorted(called) == [e.pk for e in published]  # each once
    for project in projects:
        own = [e.pk for e in published if e.project_id == project.pk]
        assert [pk for pk in called if pk in own] == own  # in order
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
