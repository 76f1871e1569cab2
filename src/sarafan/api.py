"""The public API under /api/v1: each app's router, and domain errors in API.md's shape."""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.renderers import JSONRenderer

from sarafan.core.errors import SarafanError, error_body
from sarafan.core.middleware import too_large
from sarafan.core.schemas import describe_text
from sarafan.core.validation import validation_error

logger = logging.getLogger("sarafan.api")


class Utf8Renderer(JSONRenderer):
    """Cyrillic stays readable in responses instead of \\u escapes."""

    json_dumps_params = {"ensure_ascii": False}


class SarafanAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> OpenAPISchema:
        """The document also says that no path or query parameter may hold a control
        character (the API middleware refuses them)."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    describe_text(parameter["schema"])
        return schema


api = SarafanAPI(
    renderer=Utf8Renderer(),
    title="Sarafan API",
    version="1",
    description=(
        "Referral programs: campaigns, participants and links, events (signup, order, refund, "
        "share), rewards as e-certificates, analytics. Authenticate with "
        "`Authorization: Bearer sk_test_…`."
    ),
    urls_namespace="api",
    docs_url="/docs",
)


def _error(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
    return api.create_response(request, body, status=status)


@api.exception_handler(SarafanError)
def _domain_error(request: HttpRequest, exc: SarafanError) -> HttpResponse:
    return _error(request, exc.status, exc.as_body())


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    status, body = validation_error(exc.errors)
    return _error(request, status, body)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, error_body("not_found", "not_found", "No such object."))


_HTTP_TYPES = {401: "authentication", 403: "permission", 404: "not_found", 429: "rate_limited"}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and "parse" in exc.message.lower():
        body = error_body(
            "invalid_request", "malformed_json", "The request body is not valid JSON.", None
        )
        return _error(request, 400, body)
    type_ = _HTTP_TYPES.get(exc.status_code, "invalid_request")
    return _error(request, exc.status_code, error_body(type_, type_, exc.message))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return too_large()


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return _error(
        request,
        500,
        error_body("server", "server_error", "Something went wrong on our side; it was logged."),
    )


def _mount_routers() -> None:
    from sarafan.analytics.api import router as analytics
    from sarafan.campaigns.api import router as campaigns
    from sarafan.fraud.api import router as fraud
    from sarafan.moderation import api as moderation
    from sarafan.participants.api import router as participants
    from sarafan.referrals.api import router as referrals
    from sarafan.rewards.api.issuers import issuers_router
    from sarafan.rewards.api.pools import brands, pools_router
    from sarafan.rewards.api.rewards import certificates, rewards
    from sarafan.tracking.api import router as events

    api.add_router("/campaigns", campaigns)
    api.add_router("/participants", participants)
    api.add_router("/events", events)
    # Moderation's endpoints live at the paths of what they decide on; its referrals router
    # goes first so that POST /referrals/review is not taken for GET /referrals/{id}.
    api.add_router("/referrals", moderation.referrals)
    api.add_router("/referrals", referrals)
    api.add_router("/rewards", rewards)
    api.add_router("/rewards", moderation.rewards)
    api.add_router("/certificates", certificates)
    api.add_router("/brands", brands)
    api.add_router("/pools", pools_router)
    api.add_router("/issuers", issuers_router)
    api.add_router("/analytics", analytics)
    api.add_router("/fraud", fraud)
    api.add_router("/fraud", moderation.fraud)


_mount_routers()
