"""Events API: one event, or a batch of up to 1000."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from sarafan.core.schemas import answers
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth

from .schemas import BatchIn, BatchOut, EventIn, EventOut
from .services import record_batch, record_event

router = Router(auth=secret_key_auth, tags=["events"], by_alias=True, exclude_unset=True)


@router.post(
    "",
    response=answers({200: EventOut, 201: EventOut}, body=True),
    summary="Send an event (201; 200 for an order already recorded, with its first answer)",
)
def create(request: HttpRequest, payload: EventIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    status, body = record_event(project=caller.project, livemode=caller.livemode, data=payload)
    return Status(status, body)


@router.post(
    "/batch",
    response=answers({200: BatchOut}, body=True),
    summary="Send up to 1000 events; each answered in order",
)
def batch(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    caller = _caller(request)
    results = record_batch(project=caller.project, livemode=caller.livemode, items=payload.events)
    return {"object": "list", "results": results}
