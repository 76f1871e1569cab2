"""API-wide concerns handled before any view: body size, idempotency, the error shape."""

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import error_body
from .idempotency import run_idempotent

API_PREFIX = "/api/"
_STATUS_ERRORS = {
    400: ("invalid_request", "invalid_request", "The request could not be understood."),
    401: ("authentication", "invalid_api_key", "Authentication failed."),
    403: ("permission", "forbidden", "This key may not do that."),
    404: ("not_found", "not_found", "No such endpoint."),
    405: ("invalid_request", "method_not_allowed", "This endpoint does not accept that method."),
    413: ("invalid_request", "request_too_large", "The request body is too large."),
    429: ("rate_limited", "rate_limited", "Too many requests."),
}


class ApiMiddleware:
    """For /api/: refuse oversized bodies, honour Idempotency-Key, and make every error JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if _content_length(request) > settings.SARAFAN_MAX_BODY_BYTES:
            return too_large()
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key:
            response = run_idempotent(request, key, self.get_response)
        else:
            response = self.get_response(request)
        return _json_error(response)


def too_large() -> JsonResponse:
    limit = settings.SARAFAN_MAX_BODY_BYTES
    return JsonResponse(
        error_body(
            "invalid_request",
            "request_too_large",
            f"The request body is larger than the {limit} bytes allowed.",
        ),
        status=413,
    )


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _json_error(response: HttpResponse) -> HttpResponse:
    """Responses Django made outside the API's handlers (404, 405, 500) get the error shape."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return response
    type_, code, message = _STATUS_ERRORS.get(
        response.status_code, ("server", "server_error", "Something went wrong on our side.")
    )
    shaped = HttpResponse(
        json.dumps(error_body(type_, code, message)),
        status=response.status_code,
        content_type="application/json",
    )
    if allow := response.get("Allow"):
        shaped["Allow"] = allow
    return shaped
