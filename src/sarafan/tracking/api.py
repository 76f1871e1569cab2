"""Events API: one event, or a batch of up to 1000."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from sarafan.core.schemas import answers
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth

from .results import Recorded, Repeated
from .schemas import BatchIn, BatchOut, EventIn, EventOut, event_answer
from .services import record_batch, record_event

router = Router(auth=secret_key_auth, tags=["events"], by_alias=True, exclude_unset=True)


def _answer(result: Recorded | Repeated) -> dict[str, Any]:
    """A new event's answer as event_answer shaped it (and the event keeps), or the first
    answer of an order seen before, as it was stored (by whichever version gave it)."""
    answer = result.answer
    assert answer is not None  # record_event shapes every Recorded
    return answer


@router.post(
    "",
    response=answers({200: EventOut, 201: EventOut}, body=True),
    summary="Send an event (201; 200 for an order already recorded, with its first answer)",
)
def create(request: HttpRequest, payload: EventIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    result = record_event(
        project=caller.project, livemode=caller.livemode, data=payload, shape=event_answer
    )
    return Status(201 if result.new else 200, _answer(result))


@router.post(
    "/batch",
    response=answers({200: BatchOut}, body=True),
    summary="Send up to 1000 events; each answered in order",
)
def batch(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    caller = _caller(request)
    results = record_batch(
        project=caller.project, livemode=caller.livemode, items=payload.events, shape=event_answer
    )
    return {
        "object": "list",
        # Each event's answer, or its error in place.
        "results": [r if isinstance(r, dict) else _answer(r) for r in results],
    }
