"""API authentication: `Authorization: Bearer <key>` resolved once per request."""

from django.http import HttpRequest
from ninja.security.base import AuthBase

from sarafan.core.errors import AuthenticationFailed, PermissionDenied

from .services import ApiCaller, authenticate_key

_CACHE_ATTR = "_sarafan_caller"


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "No API key provided. Send 'Authorization: Bearer <secret key>'.",
            code="missing_api_key",
        )
    return token.strip()


def caller(request: HttpRequest) -> ApiCaller:
    """The request's caller, authenticated on first use and remembered on the request (the
    API's views, after secret_key_auth, get the caller it found)."""
    cached: ApiCaller | None = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        cached = authenticate_key(bearer_token(request))
        setattr(request, _CACHE_ATTR, cached)
    return cached


class SecretKey(AuthBase):
    """Ninja auth for server-to-server endpoints: a secret key is required. The OpenAPI
    document names it as its bearer security scheme."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_bearerFormat = "sk_test_… or sk_live_…"
    openapi_description = (
        "A project's secret key: `Authorization: Bearer sk_test_…` (test data) or `sk_live_…`."
    )

    def __call__(self, request: HttpRequest) -> ApiCaller:
        found = caller(request)
        if not found.is_secret:
            raise PermissionDenied(
                "Publishable keys may only call /api/v1/public/*; use a secret key.",
                code="secret_key_required",
            )
        return found


secret_key_auth = SecretKey()
