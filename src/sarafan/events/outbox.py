"""Publishing: an event is a row written in the transaction of the change it announces.

`publish` must run inside `transaction.atomic()`: the row commits with the change or not
at all. Once the transaction commits, the dispatcher task is enqueued for the project (once
per transaction, and only when a handler subscribes to one of its events); should that
enqueue be lost (the process died in between), the periodic sweep hands the event out.

`atomic()` is `transaction.atomic()` for a path that publishes several events (a paid
order announces the order, the referral and its rewards): their rows are written in one
INSERT when the block ends, still inside the transaction, instead of one INSERT each.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from sarafan.projects.models import Project

from .dispatch import handlers_for
from .models import OutboxEvent

# Payload keys that would carry a secret: certificate codes, PINs, API keys, portal tokens.
_SECRET_KEY = re.compile(r"(^|_)(code|codes|pin|pins|key|keys|token|tokens|secret|password)$")
_BATCH = "_sarafan_event_batch"


@dataclass
class _Batch:
    events: list[OutboxEvent] = field(default_factory=list)


class _Buffered:
    """A no-op on-commit callback marking a buffered event. Django drops the callbacks of a
    savepoint that rolls back, so the batch writes only the events whose mark is left."""

    def __init__(self, event: OutboxEvent) -> None:
        self.event = event

    def __call__(self) -> None:
        pass


class _Dispatch:
    """The on-commit callback that enqueues the dispatcher for one project."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id

    def __call__(self) -> None:
        from .tasks import dispatch_events

        dispatch_events.enqueue(self.project_id)


def check_payload(value: Any, where: str = "payload") -> None:
    """Refuse a payload that names a secret: events are read by handlers and, later, by
    webhooks and the audit log, so they carry public ids and amounts, never codes or keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            if _SECRET_KEY.search(str(key).lower()):
                raise ValueError(f"An event payload may not carry '{where}.{key}'.")
            check_payload(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_payload(item, where)


def publish(
    project: Project | int, livemode: bool, type: str, payload: dict[str, Any] | None = None
) -> OutboxEvent:
    """Announce a change inside the caller's transaction; returns the (unsaved in a batch) row."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("events.publish() must be called inside transaction.atomic().")
    payload = payload or {}
    check_payload(payload)
    project_id = project if isinstance(project, int) else project.pk
    event = OutboxEvent(project_id=project_id, livemode=livemode, type=type, payload=payload)
    batch: _Batch | None = getattr(connection, _BATCH, None)
    if batch is not None:
        # Kept in publishing order, savepoints inside the batch included (an event of one
        # that rolls back loses its mark and is left out).
        batch.events.append(event)
        transaction.on_commit(_Buffered(event))
    else:
        event.save(force_insert=True)
    if handlers_for(type):
        # Events nobody handles are marked processed by the sweep, without a task of their own.
        _dispatch_on_commit(connection, project_id)
    return event


def _dispatch_on_commit(connection: BaseDatabaseWrapper, project_id: int) -> None:
    for entry in connection.run_on_commit:
        callback = entry[1]
        if isinstance(callback, _Dispatch) and callback.project_id == project_id:
            return
    # robust: a failed enqueue is logged and left to the sweep, the change stays committed.
    transaction.on_commit(_Dispatch(project_id), robust=True)


@contextmanager
def atomic() -> Iterator[None]:
    """`transaction.atomic()` whose events are written together, in one INSERT, at its end."""
    with transaction.atomic():
        connection = transaction.get_connection()
        if getattr(connection, _BATCH, None) is not None:
            yield  # an outer batch collects them
            return
        batch = _Batch()
        setattr(connection, _BATCH, batch)
        try:
            yield
        finally:
            setattr(connection, _BATCH, None)
        marked = {
            id(entry[1].event)
            for entry in connection.run_on_commit
            if isinstance(entry[1], _Buffered)
        }
        events = [event for event in batch.events if id(event) in marked]
        if events:
            OutboxEvent.objects.bulk_create(events)
