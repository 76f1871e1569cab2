"""The dispatcher: pending events handed to the handlers named in settings.

SARAFAN_EVENT_HANDLERS maps an event type to dotted paths of functions taking the
`OutboxEvent` ("*" names handlers of every type). How an event goes out:

- at least once: a handler runs in a transaction that also records it done, so a handler
  whose database work committed is never called again for that event; one that also acts
  outside the database (enqueues a task, sends mail) may run again if the worker dies
  between its action and that commit;
- in order per project: a dispatcher claims a project's events only from its oldest
  pending one on, so two dispatchers never hand out one project's events side by side;
  within a pass a handler that failed on an event is not given the project's later events;
- claims are leases (SARAFAN_EVENT_LEASE_SECONDS): rows are taken with SELECT ... FOR
  UPDATE SKIP LOCKED on PostgreSQL (on SQLite the write lock serialises the claims), and a
  dispatcher that was killed leaves rows that the next one takes once the lease is over;
- a failing handler is retried with exponential backoff (SARAFAN_EVENT_RETRY_SECONDS,
  doubling, at most an hour) up to SARAFAN_EVENT_MAX_ATTEMPTS, then given up (logged, and
  kept on the row); the other handlers of the event are not held up by it.
"""

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import OutboxEvent

logger = logging.getLogger("sarafan.events")
Handler = Callable[[OutboxEvent], object]
BATCH = 100
MAX_BACKOFF = timedelta(hours=1)


class LeaseLost(Exception):
    """Another dispatcher claimed our rows (our lease ran out): this pass stops."""


def handlers_for(type: str) -> list[str]:
    config: dict[str, list[str]] = settings.SARAFAN_EVENT_HANDLERS
    return [*config.get(type, ()), *config.get("*", ())]


@cache
def _resolve(path: str) -> Handler:
    handler: Handler = import_string(path)
    return handler


def _lease() -> timedelta:
    return timedelta(seconds=settings.SARAFAN_EVENT_LEASE_SECONDS)


def backoff(attempt: int) -> timedelta:
    """The wait before a handler's next try, after its `attempt`-th failure."""
    seconds = settings.SARAFAN_EVENT_RETRY_SECONDS * 2 ** (attempt - 1)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def claim(
    token: str, *, project_id: int | None = None, batch: int = BATCH, now: datetime | None = None
) -> list[OutboxEvent]:
    """Lease up to `batch` pending events, each project's from its oldest pending one on."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = OutboxEvent.objects.select_for_update(skip_locked=True).filter(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now), processed_at__isnull=True
        )
        if project_id is not None:
            rows = rows.filter(project_id=project_id)
        candidates = list(rows.order_by("id")[:batch])
        if not candidates:
            return []
        # Every pending id of these projects up to the last candidate, leased or locked by
        # another dispatcher or not: a project is taken only as a prefix of that list.
        pending: dict[int, list[int]] = defaultdict(list)
        for owner, pk in (
            OutboxEvent.objects.filter(
                project_id__in={event.project_id for event in candidates},
                processed_at__isnull=True,
                id__lte=candidates[-1].pk,
            )
            .order_by("id")
            .values_list("project_id", "id")
        ):
            pending[owner].append(pk)
        taken: list[OutboxEvent] = []
        cursor: dict[int, int] = defaultdict(int)
        for event in candidates:
            owned = pending[event.project_id]
            at = cursor[event.project_id]
            if at < len(owned) and owned[at] == event.pk:
                cursor[event.project_id] = at + 1
                taken.append(event)
            else:
                cursor[event.project_id] = len(owned)  # the project's order broke here
        if taken:
            until = now + _lease()
            OutboxEvent.objects.filter(pk__in=[event.pk for event in taken]).update(
                locked_by=token, locked_until=until
            )
            for event in taken:
                event.locked_by, event.locked_until = token, until
        return taken


def release(token: str) -> None:
    """Give back the leased rows still pending (their handlers wait for a retry)."""
    OutboxEvent.objects.filter(locked_by=token, processed_at__isnull=True).update(
        locked_by="", locked_until=None
    )


def _finished(event: OutboxEvent, state: dict[str, Any]) -> bool:
    return all(
        state.get(path, {}).get("done") or state.get(path, {}).get("gave_up")
        for path in handlers_for(event.type)
    )


def _save(event: OutboxEvent, token: str, state: dict[str, Any]) -> None:
    """Write the handlers' state (and the processed marker once all are through)."""
    processed = timezone.now() if _finished(event, state) else None
    fields: dict[str, Any] = {"handlers": state, "processed_at": processed}
    if processed is not None:
        fields.update(locked_by="", locked_until=None)
    if not OutboxEvent.objects.filter(pk=event.pk, locked_by=token).update(**fields):
        raise LeaseLost(event.pk)
    event.handlers, event.processed_at = state, processed


def _failure(event: OutboxEvent, path: str, attempts: int, exc: Exception) -> dict[str, Any]:
    error = f"{type(exc).__name__}: {exc}"[:500]
    if attempts >= settings.SARAFAN_EVENT_MAX_ATTEMPTS:
        logger.error(
            "event %s (%s) handler %s gave up after %d attempts: %s",
            event.pk,
            event.type,
            path,
            attempts,
            error,
        )
        return {"gave_up": True, "attempts": attempts, "error": error}
    retry_at = timezone.now() + backoff(attempts)
    logger.warning(
        "event %s (%s) handler %s failed (attempt %d), retry at %s: %s",
        event.pk,
        event.type,
        path,
        attempts,
        retry_at.isoformat(),
        error,
    )
    return {"attempts": attempts, "error": error, "retry_at": retry_at.isoformat()}


def _run(event: OutboxEvent, token: str, blocked: set[str]) -> bool:
    """Call the event's handlers that are due; returns whether the event is processed."""
    state: dict[str, Any] = dict(event.handlers or {})
    for path in handlers_for(event.type):
        entry: dict[str, Any] = state.get(path, {})
        if entry.get("done") or entry.get("gave_up") or path in blocked:
            continue
        retry_at = entry.get("retry_at")
        if retry_at and datetime.fromisoformat(retry_at) > timezone.now():
            blocked.add(path)  # the project's later events wait for this one
            continue
        attempts = int(entry.get("attempts", 0)) + 1
        try:
            with transaction.atomic():
                _resolve(path)(event)
                _save(event, token, {**state, path: {"done": True, "attempts": attempts}})
        except LeaseLost:
            raise
        except Exception as exc:
            logger.debug("handler %s failed", path, exc_info=True)
            failed = _failure(event, path, attempts, exc)
            if not failed.get("gave_up"):
                blocked.add(path)
            _save(event, token, {**state, path: failed})
        state = dict(event.handlers)
    return event.processed_at is not None


def _run_all(events: Iterable[OutboxEvent], token: str) -> int:
    events = list(events)
    idle = [event for event in events if not handlers_for(event.type)]
    if idle:
        # No handler subscribes to these: processed in one UPDATE.
        OutboxEvent.objects.filter(pk__in=[event.pk for event in idle], locked_by=token).update(
            processed_at=timezone.now(), locked_by="", locked_until=None
        )
    done = len(idle)
    blocked: dict[int, set[str]] = defaultdict(set)
    for event in events:
        if handlers_for(event.type):
            _renew(event, token)
            done += _run(event, token, blocked[event.project_id])
    return done


def _renew(event: OutboxEvent, token: str) -> None:
    """Extend our lease when half of it has passed (a long batch of slow handlers)."""
    lease = _lease()
    now = timezone.now()
    if event.locked_until is None or event.locked_until - now > lease / 2:
        return
    until = now + lease
    # A row another dispatcher took meanwhile is not ours to extend: _save notices it.
    OutboxEvent.objects.filter(locked_by=token, processed_at__isnull=True).update(
        locked_until=until
    )
    event.locked_until = until


def dispatch(*, project_id: int | None = None, batch: int = BATCH) -> int:
    """Hand pending events (of one project, or all) to their handlers; returns how many
    events were processed. Stops when nothing is left that can go out now."""
    token = secrets.token_hex(8)
    processed = 0
    while True:
        events = claim(token, project_id=project_id, batch=batch)
        if not events:
            return processed
        try:
            done = _run_all(events, token)
        except LeaseLost as exc:
            logger.warning("event %s was claimed by another dispatcher: pass stopped", exc)
            return processed
        finally:
            release(token)
        processed += done
        if not done:  # all it got wait for retries (or another dispatcher's events)
            return processed


def purge_processed(*, now: datetime | None = None) -> int:
    """Delete processed events older than SARAFAN_EVENT_KEEP_DAYS; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SARAFAN_EVENT_KEEP_DAYS)
    deleted, _ = OutboxEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted
