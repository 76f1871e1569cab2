"""Idempotency-Key for every POST: the first response is stored and replayed for the same key.

An answer can carry a certificate's code and PIN, and a path its code: the stored answer is
encrypted and the stored path masked (core/logging.py), so neither is kept in clear.
A placeholder row is inserted before the request runs, so a concurrent duplicate finds it
(the unique constraint decides the race) and is told the first is still in progress. The
placeholder is a lease: a process killed while it held one (after its work committed, say)
leaves a row that no answer will ever fill, so once SARAFAN_IDEMPOTENCY_LEASE_SECONDS have
passed a retry with the same request takes the lease over and runs again. What the request
does is safe to run twice on its own terms (an order id pays once).
"""

import hashlib
import math
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from sarafan.core.crypto import decrypt_bytes, encrypt_bytes
from sarafan.core.errors import Conflict, IdempotencyConflict, SarafanError
from sarafan.core.logging import mask_text
from sarafan.core.middleware import API_PREFIX
from sarafan.core.models import IdempotencyRecord
from sarafan.projects.auth import caller as api_caller

MAX_KEY_LENGTH = 255


class IdempotencyMiddleware:
    """For POSTs to /api/ with an Idempotency-Key: run once, replay the stored answer after.

    Placed right after core's ApiMiddleware, which has refused oversized bodies and keys with
    control characters already and gives the answers here the API's error shape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key and request.path.startswith(API_PREFIX):
            return run_idempotent(request, key, self.get_response)
        return self.get_response(request)


def _error(exc: SarafanError) -> HttpResponse:
    return JsonResponse(exc.as_body(), status=exc.status)


def _request_hash(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() if request.method else b"")
    digest.update(request.path.encode())
    digest.update(request.body)
    return digest.hexdigest()


def run_idempotent(
    request: HttpRequest, key: str, get_response: Callable[[HttpRequest], HttpResponse]
) -> HttpResponse:
    try:
        caller = api_caller(request)
    except SarafanError:
        return get_response(request)  # the view answers 401/403 itself
    if len(key) > MAX_KEY_LENGTH:
        return _error(
            SarafanError("Idempotency-Key is longer than 255 characters.", param="Idempotency-Key")
        )
    scope = {"project": caller.project, "livemode": caller.livemode, "key": key}
    request_hash = _request_hash(request)
    expired_before = timezone.now() - timedelta(hours=settings.SARAFAN_IDEMPOTENCY_TTL_HOURS)
    IdempotencyRecord.objects.filter(**scope, created_at__lt=expired_before).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                **scope,
                method=request.method or "",
                path=mask_text(request.path)[:255],
                request_hash=request_hash,
            )
    except IntegrityError:
        first = IdempotencyRecord.objects.filter(**scope).first()
        if first is None:  # expired and purged between the two statements
            return get_response(request)
        if first.status_code is not None:
            if first.request_hash != request_hash:
                return _error(
                    IdempotencyConflict(
                        "This Idempotency-Key was already used with a different request.",
                        param="Idempotency-Key",
                    )
                )
            return _replay(first)
        taken = _take_over_lapsed(first) if first.request_hash == request_hash else None
        if taken is None:
            return _in_progress(first)
        record = taken

    response = get_response(request)
    if response.status_code >= 500:
        record.delete()  # a server error is not an answer worth replaying
    else:
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code, response_body=encrypt_bytes(response.content)
        )
    return response


def _lease() -> timedelta:
    return timedelta(seconds=settings.SARAFAN_IDEMPOTENCY_LEASE_SECONDS)


def _take_over_lapsed(first: IdempotencyRecord) -> IdempotencyRecord | None:
    """The placeholder, now this request's, if its lease lapsed; None while it holds.

    The conditional update decides between retries racing for the same lapsed lease.
    """
    now = timezone.now()
    if first.created_at > now - _lease():
        return None
    taken = IdempotencyRecord.objects.filter(
        pk=first.pk, status_code__isnull=True, created_at=first.created_at
    ).update(created_at=now)
    if not taken:
        return None
    first.created_at = now
    return first


def _in_progress(first: IdempotencyRecord) -> HttpResponse:
    response = _error(
        Conflict(
            "A request with this Idempotency-Key is still being processed.",
            code="idempotency_in_progress",
        )
    )
    remaining = (first.created_at + _lease() - timezone.now()).total_seconds()
    response["Retry-After"] = str(max(1, math.ceil(remaining)))
    return response


def _replay(first: IdempotencyRecord) -> HttpResponse:
    replay = HttpResponse(
        decrypt_bytes(bytes(first.response_body)) if first.response_body else b"",
        status=first.status_code,
        content_type="application/json",
    )
    replay["Idempotent-Replayed"] = "true"
    return replay
