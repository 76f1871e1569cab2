"""Events API: one event, or a batch of up to 1000."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth

from .schemas import BatchIn, EventIn
from .services import record_batch, record_event

router = Router(auth=secret_key_auth, tags=["events"])


@router.post("", response={200: dict, 201: dict}, summary="Send an event")
def create(request: HttpRequest, payload: EventIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    status, body = record_event(project=caller.project, livemode=caller.livemode, data=payload)
    return Status(status, body)


@router.post("/batch", response=dict, summary="Send up to 1000 events; each answered in order")
def batch(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    caller = _caller(request)
    results = record_batch(project=caller.project, livemode=caller.livemode, items=payload.events)
    return {"object": "list", "results": results}
