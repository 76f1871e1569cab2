"""API-wide concerns handled before any view: rate limits, body size, control characters,
the error shape. Idempotency-Key, which needs the caller's project, is sarafan.site's
(site/idempotency.py), the middleware right after ApiMiddleware."""

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from . import ratelimit
from .addresses import client_ip
from .errors import error_body
from .validation import has_control_character

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
    """For /api/: refuse oversized bodies and control characters, and make every error JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if _content_length(request) > settings.SARAFAN_MAX_BODY_BYTES:
            return too_large()
        key = request.headers.get("Idempotency-Key")
        if refused := _controlled_query(request):
            return refused
        if key and has_control_character(key):
            return _controlled("Idempotency-Key", status=400)
        return _json_error(self.get_response(request))

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        """A path part with a control character (/participants/u%00-1) is refused by name."""
        if request.path.startswith(API_PREFIX):
            for name, value in kwargs.items():
                if isinstance(value, str) and has_control_character(value):
                    return _controlled(name)
        return None


def _controlled_query(request: HttpRequest) -> JsonResponse | None:
    """No query parameter (name or value) may hold a control character: PostgreSQL cannot
    compare text with a NUL in it, and no parameter of the API is more than one line."""
    for name, values in request.GET.lists():
        if has_control_character(name) or any(map(has_control_character, values)):
            return _controlled(name)
    return None


def _controlled(param: str, *, status: int = 422) -> JsonResponse:
    return JsonResponse(
        error_body(
            "invalid_request",
            "invalid_value",
            f"'{param}' must not contain control characters (NUL, line breaks, tabs and the like).",
            param,
        ),
        status=status,
    )


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


CERTIFICATES_PREFIX = "/api/v1/certificates/"


class RateLimitMiddleware:
    """For /api/: request limits per key and per address, and guess limits (core/ratelimit.py).

    Every answer carries RateLimit-Limit/-Remaining/-Reset of the tightest request limit;
    over any limit the answer is 429 `rate_limited` with Retry-After. Failed authentications
    are counted per address, unknown certificate codes per key and per address: past their
    limit the client is refused until the window ends, even with the right key or code.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        address = client_ip(request) or "unknown"
        secret = _presented_key(request)
        key = ratelimit.ident_of(secret) if secret else ""
        certificates = request.path.startswith(CERTIFICATES_PREFIX)
        guessers = [(ratelimit.AUTH_FAILURES, address)]
        if certificates:
            guessers += [(ratelimit.CERTIFICATE_MISSES, f"ip:{address}")]
            if key:
                guessers += [(ratelimit.CERTIFICATE_MISSES, f"key:{key}")]
        for limit, ident in guessers:
            if blocked := limit.blocked(ident):
                return rate_limited(blocked)

        limits = [("ip", address, ratelimit.Rate.parse(settings.SARAFAN_RATE_LIMIT_IP))]
        if key:
            limits.append(("key", key, ratelimit.Rate.parse(settings.SARAFAN_RATE_LIMIT_KEY)))
            if certificates:
                rate = ratelimit.Rate.parse(settings.SARAFAN_RATE_LIMIT_CERTIFICATES)
                limits.append(("certificates", key, rate))
        verdicts = ratelimit.count(ratelimit.request_store(), limits)
        tightest = min(verdicts, key=lambda v: (v.allowed, v.remaining))
        if not tightest.allowed:
            return rate_limited(tightest)

        response = self.get_response(request)
        failed = []
        if response.status_code == 401:
            failed = [ratelimit.AUTH_FAILURES.failed(address)]
        elif response.status_code == 404 and certificates:
            failed = [limit.failed(ident) for limit, ident in guessers[1:]]
        refused = [verdict for verdict in failed if not verdict.allowed]
        if refused:
            return rate_limited(refused[0])
        for name, value in tightest.headers().items():
            response[name] = value
        return response


def _presented_key(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-Sarafan-Key", "") or request.GET.get("key", "")


def rate_limited(verdict: ratelimit.Verdict) -> JsonResponse:
    response = JsonResponse(
        error_body(
            "rate_limited",
            "rate_limited",
            f"Too many requests; try again in {verdict.reset_seconds} seconds.",
        ),
        status=429,
    )
    for name, value in verdict.headers().items():
        response[name] = value
    return response
