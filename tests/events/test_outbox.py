"""Publishing into the caller's transaction, and the dispatcher's promises (README, "Events")."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from sarafan.events import dispatch as dispatcher
from sarafan.events.dispatch import claim, dispatch
from sarafan.events.models import OutboxEvent
from sarafan.events.outbox import atomic, publish
from sarafan.projects.services import create_project
from tests.events import handlers

H = "tests.events.handlers"


@pytest.fixture(autouse=True)
def _handlers(settings) -> Iterator[None]:
    settings.SARAFAN_EVENT_HANDLERS = {
        "thing.happened": [f"{H}.first", f"{H}.second"],
        "other.happened": [f"{H}.second"],
    }
    settings.SARAFAN_EVENT_RETRY_SECONDS = 10
    settings.SARAFAN_EVENT_MAX_ATTEMPTS = 3
    handlers.reset()
    yield
    handlers.reset()


def _publish(project, type="thing.happened", **payload) -> OutboxEvent:
    with transaction.atomic():
        return publish(project, False, type, payload)


def test_publish_writes_the_row_in_the_callers_transaction(project):
    with transaction.atomic():
        event = publish(project, False, "thing.happened", {"reward": "rwd_1"})
        assert OutboxEvent.objects.filter(pk=event.pk).exists()
    row = OutboxEvent.objects.get()
    assert (row.project_id, row.livemode, row.type) == (project.pk, False, "thing.happened")
    assert row.payload == {"reward": "rwd_1"} and row.processed_at is None


def test_a_rolled_back_transaction_publishes_nothing(project):
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        publish(project, False, "thing.happened", {"n": 1})
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"), atomic():
        publish(project, False, "thing.happened", {"n": 2})
        raise RuntimeError("boom")
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused(project):
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        publish(project, False, "thing.happened")
    assert not OutboxEvent.objects.exists()


def test_a_batch_writes_its_events_in_one_insert(project, django_assert_num_queries):
    # The savepoint, the one INSERT, the release.
    with django_assert_num_queries(3), atomic():
        for n in range(5):
            publish(project, False, "thing.happened", {"n": n})
    assert [e.payload["n"] for e in OutboxEvent.objects.order_by("id")] == [0, 1, 2, 3, 4]


def test_an_event_of_a_rolled_back_savepoint_in_a_batch_is_not_published(project):
    with atomic():
        publish(project, False, "thing.happened", {"n": 1})
        with pytest.raises(RuntimeError), transaction.atomic():
            publish(project, False, "thing.happened", {"n": 2})
            raise RuntimeError
        publish(project, False, "thing.happened", {"n": 3})
    assert sorted(e.payload["n"] for e in OutboxEvent.objects.all()) == [1, 3]


def test_a_batch_keeps_the_publishing_order_across_savepoints(project):
    with atomic():
        publish(project, False, "thing.happened", {"n": 1})
        with transaction.atomic():  # e.g. cancel_reward inside a refund
            publish(project, False, "thing.happened", {"n": 2})
        publish(project, False, "thing.happened", {"n": 3})
    assert [e.payload["n"] for e in OutboxEvent.objects.order_by("id")] == [1, 2, 3]


def test_the_dispatcher_is_enqueued_once_per_transaction_on_commit(
    project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        publish(project, False, "thing.happened")
        publish(project, False, "other.happened")
    assert len(callbacks) == 1
    # Nobody handles this one: the sweep marks it processed, no task is queued for it.
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        publish(project, False, "nobody.listens")
    assert callbacks == []


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "ABCD-EFGH"},
        {"certificate": {"pin": "1234"}},
        {"items": [{"portal_token": "x"}]},
        {"secret_key": "sk_test_x"},
    ],
)
def test_payloads_never_carry_codes_pins_keys_or_tokens(project, payload):
    with pytest.raises(ValueError, match="may not carry"), transaction.atomic():
        publish(project, False, "thing.happened", payload)


def test_events_go_out_in_order_per_project_once_each(project):
    other, _keys = create_project(name="Other")
    published = [_publish(project if n % 2 else other, n=n) for n in range(6)]
    assert dispatch() == 6
    for name in ("first", "second"):
        assert [pk for called, pk in handlers.calls if called == name] == [e.pk for e in published]
    assert not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
    assert dispatch() == 0
    assert len(handlers.calls) == 12


def test_events_without_handlers_are_processed_without_calls(project):
    _publish(project, "nobody.listens")
    assert dispatch() == 1
    assert handlers.calls == []


def test_a_failing_handler_is_retried_later_and_does_not_hold_up_the_others(project):
    handlers.failing.add("first")
    one = _publish(project, n=1)
    two = _publish(project, n=2)
    assert dispatch() == 0
    # `second` went on with both events; `first` failed on the first and waits, in order.
    assert handlers.calls == [("first", one.pk), ("second", one.pk), ("second", two.pk)]
    one.refresh_from_db()
    state = one.handlers
    assert state[f"{H}.second"] == {"done": True, "attempts": 1}
    assert state[f"{H}.first"]["attempts"] == 1
    assert "first is down" in state[f"{H}.first"]["error"]
    retry_at = timezone.datetime.fromisoformat(state[f"{H}.first"]["retry_at"])
    assert timedelta(seconds=9) < retry_at - timezone.now() <= timedelta(seconds=10)

    # Not due yet: nothing is called again.
    handlers.calls.clear()
    assert dispatch() == 0
    assert handlers.calls == []

    # Due, and back: `first` gets both events in order; `second` is never called again.
    handlers.failing.clear()
    OutboxEvent.objects.filter(pk=one.pk).update(
        handlers={
            **state,
            f"{H}.first": {**state[f"{H}.first"], "retry_at": "2000-01-01T00:00:00+00:00"},
        }
    )
    assert dispatch() == 2
    assert handlers.calls == [("first", one.pk), ("first", two.pk)]


def test_a_handler_that_keeps_failing_is_given_up(project, monkeypatch):
    monkeypatch.setattr(dispatcher, "backoff", lambda attempt: timedelta(0))
    handlers.failing.add("second")
    event = _publish(project, "other.happened")
    for _ in range(3):
        dispatch()
    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.handlers[f"{H}.second"]["gave_up"] is True
    assert event.handlers[f"{H}.second"]["attempts"] == 3
    assert handlers.calls == [("second", event.pk)] * 3


def test_a_handlers_database_work_rolls_back_with_its_failure(project, settings):
    settings.SARAFAN_EVENT_HANDLERS = {"thing.happened": ["tests.events.test_outbox.writes"]}
    _publish(project)
    dispatch()
    assert not OutboxEvent.objects.filter(type="written").exists()


def writes(event: OutboxEvent) -> None:
    publish(event.project_id, event.livemode, "written")
    raise RuntimeError("after writing")


def test_rows_of_a_dispatcher_that_died_are_taken_again_after_its_lease(project):
    event = _publish(project)
    assert [e.pk for e in claim("dead")] == [event.pk]
    # The dead dispatcher's lease holds: nobody takes its events, nor the project's later.
    later = _publish(project)
    assert claim("alive") == []
    assert dispatch() == 0
    OutboxEvent.objects.filter(locked_by="dead").update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert dispatch() == 2
    assert [pk for name, pk in handlers.calls if name == "first"] == [event.pk, later.pk]


def test_a_dispatcher_that_lost_its_lease_does_not_record_a_handler_done(project):
    event = _publish(project)
    [claimed] = claim("slow")
    # The lease ran out and another dispatcher took the event meanwhile.
    OutboxEvent.objects.filter(pk=event.pk).update(locked_by="other")
    with pytest.raises(dispatcher.LeaseLost):
        dispatcher._run(claimed, "slow", set())
    event.refresh_from_db()
    assert event.handlers == {} and event.processed_at is None
