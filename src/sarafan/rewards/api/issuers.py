"""External issuers API: a provider's address and token per project and mode, its circuit."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import Field
from pydantic.config import JsonDict

from sarafan.core.pagination import ListQuery
from sarafan.core.schemas import WEB_URL_PATTERN, ListOut, Strict, Url, answers
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller

from .. import issuers
from ..models import Brand, Issuer
from ..schemas import IssuerOut
from .lists import by_id, of_caller, page_answer

issuers_router = Router(auth=secret_key_auth, tags=["issuers"], by_alias=True, exclude_unset=True)

URL_HELP = (
    "the provider's API address, http(s), not on a local or private network; Sarafan "
    "calls {url}/certificates…"
)
BEARER_HELP = (
    "write-only: sent as `Authorization: Bearer …`, stored encrypted, never shown again; "
    "printable ASCII without spaces"
)


# Checked by the issuers service, which names the field; the document describes the rules.
NAME: JsonDict = {"minLength": 1, "maxLength": 200}
URL: JsonDict = {"pattern": WEB_URL_PATTERN}
TOKEN: JsonDict = {"pattern": "^[!-~]*$"}
TIMEOUT: JsonDict = {"minimum": 0.5, "maximum": 30}
ATTEMPTS: JsonDict = {"minimum": 1, "maximum": 50}


class IssuerIn(Strict):
    name: str = Field(description="1–200 characters", json_schema_extra=NAME)
    url: Url = Field(description=URL_HELP, json_schema_extra=URL)
    token: str = Field(default="", description=BEARER_HELP, json_schema_extra=TOKEN)
    brand: str | None = Field(default=None, description="brand id, brd_…, of the certificates")
    timeout_seconds: float = Field(
        default=10.0,
        description="per call, 0.5 to the installation's cap (30 by default)",
        json_schema_extra=TIMEOUT,
    )
    max_attempts: int = Field(
        default=8, description="calls per reward before giving up, 1–50", json_schema_extra=ATTEMPTS
    )


class IssuerPatch(Strict):
    """Only the fields sent change; `token` "" or null removes it, `brand` null detaches it.
    A new url or token closes the circuit."""

    name: str | None = Field(default=None, json_schema_extra=NAME)
    url: Url | None = Field(default=None, description=URL_HELP, json_schema_extra=URL)
    token: str | None = Field(default=None, description=BEARER_HELP, json_schema_extra=TOKEN)
    brand: str | None = None
    timeout_seconds: float | None = Field(default=None, json_schema_extra=TIMEOUT)
    max_attempts: int | None = Field(default=None, json_schema_extra=ATTEMPTS)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def issuer_out(issuer: Issuer) -> dict[str, Any]:
    return {
        "id": issuer.public_id,
        "object": "issuer",
        "livemode": issuer.livemode,
        "name": issuer.name,
        "url": issuer.url,
        "brand": issuer.brand.public_id if issuer.brand is not None else None,
        "timeout_seconds": issuer.timeout_seconds,
        "max_attempts": issuer.max_attempts,
        "has_token": bool(issuer.token_encrypted),
        "circuit": {
            "state": issuers.circuit_state(issuer).value,
            "failures": issuer.consecutive_failures,
            "open_until": _iso(issuer.circuit_open_until),
            "last_error": issuer.last_error or None,
            "last_success_at": _iso(issuer.last_success_at),
        },
        "created_at": issuer.created_at.isoformat(),
    }


def _issuers(caller: ApiCaller) -> QuerySet[Issuer]:
    return of_caller(Issuer, caller).select_related("brand")


def _brand(caller: ApiCaller, brand_id: str | None) -> Brand | None:
    if brand_id is None:
        return None
    return by_id(of_caller(Brand, caller), brand_id, "brand", param="brand")


@issuers_router.get(
    "",
    response=answers({200: ListOut[IssuerOut]}),
    summary="List external issuers, newest first",
    operation_id="sarafan_rewards_issuers_api_list_issuers",
)
def list_issuers(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    return page_answer(_issuers(_caller(request)), query, issuer_out)


@issuers_router.post(
    "",
    response=answers({201: IssuerOut}, body=True),
    summary="Add an external issuer (a provider's certificate API)",
    description="The provider implements the JSON contract in the README, 'External issuers'.",
    operation_id="sarafan_rewards_issuers_api_create_issuer",
)
def create_issuer(request: HttpRequest, payload: IssuerIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    issuer = issuers.create_issuer(
        project=caller.project,
        livemode=caller.livemode,
        name=payload.name,
        url=payload.url,
        token=payload.token,
        brand=_brand(caller, payload.brand),
        timeout_seconds=payload.timeout_seconds,
        max_attempts=payload.max_attempts,
    )
    return Status(201, issuer_out(issuer))


@issuers_router.get(
    "/{issuer_id}",
    response=answers({200: IssuerOut}),
    summary="Get an external issuer",
    operation_id="sarafan_rewards_issuers_api_get_issuer",
)
def get_issuer(request: HttpRequest, issuer_id: str) -> dict[str, Any]:
    return issuer_out(by_id(_issuers(_caller(request)), issuer_id, "issuer"))


@issuers_router.patch(
    "/{issuer_id}",
    response=answers({200: IssuerOut}, body=True),
    summary="Change an external issuer",
    operation_id="sarafan_rewards_issuers_api_change_issuer",
)
def change_issuer(request: HttpRequest, issuer_id: str, payload: IssuerPatch) -> dict[str, Any]:
    caller = _caller(request)
    issuer = by_id(_issuers(caller), issuer_id, "issuer")
    changes: dict[str, Any] = {}
    for field in payload.model_fields_set:
        value = getattr(payload, field)
        if field == "brand":
            changes["brand"] = _brand(caller, value)
        elif field == "token" or value is not None:
            changes[field] = value
    issuers.update_issuer(issuer, **changes)
    return issuer_out(issuer)
