"""Slots bounding how many outbound calls of one scope (a project) run at once.

A project whose receiver never answers would otherwise occupy every worker process with
calls that wait for their timeout, and every other project's calls would queue behind
them. A worker takes one of the scope's `limit` slots before it calls out and gives it
back after; one that finds none free puts its work off instead of waiting. The slots are
rows with an expiry, so they are shared by all worker processes and a worker that died
holding one frees it when `held_until` passes.
"""

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import OutboundSlot
from .outbound import max_timeout


def take_slot(scope: str, *, limit: int, hold: timedelta) -> tuple[int, str] | None:
    """A free slot of the scope (its number and the holder's token), or None."""
    now = timezone.now()
    token = secrets.token_hex(8)
    for number in range(max(limit, 1)):
        taken = OutboundSlot.objects.filter(scope=scope, number=number, held_until__lte=now).update(
            holder=token, held_until=now + hold
        )
        if taken:
            return number, token
        try:
            with transaction.atomic():
                OutboundSlot.objects.create(
                    scope=scope, number=number, holder=token, held_until=now + hold
                )
        except IntegrityError:
            continue  # held by someone else (or freed and taken meanwhile)
        return number, token
    return None


def give_back(scope: str, slot: tuple[int, str]) -> None:
    number, token = slot
    OutboundSlot.objects.filter(scope=scope, number=number, holder=token).update(
        holder="", held_until=timezone.now()
    )


@contextmanager
def outbound_slot(scope: str, *, limit: int, hold: timedelta) -> Iterator[bool]:
    """Yields whether a slot was taken; a taken one is given back on leaving."""
    slot = take_slot(scope, limit=limit, hold=hold)
    try:
        yield slot is not None
    finally:
        if slot is not None:
            give_back(scope, slot)


def project_slot(project_id: int, *, lease: timedelta) -> AbstractContextManager[bool]:
    """One of the project's slots for a call to its external servers, held for `lease` or
    past the longest call the installation allows, whichever is longer (a worker that died
    frees it)."""
    hold = max(lease, 2 * timedelta(seconds=max_timeout()))
    return outbound_slot(
        f"project:{project_id}", limit=settings.SARAFAN_OUTBOUND_PER_PROJECT, hold=hold
    )
