"""Reward brands and certificate pools API: catalogue, stock, CSV upload of codes."""

from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import Field

from sarafan.core.money import PositiveAmount, money_str
from sarafan.core.pagination import ListQuery
from sarafan.core.schemas import FreeText, ListOut, Strict, Url, answers, url_pattern
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller

from .. import pools
from ..models import Brand, CertificatePool
from ..schemas import BrandOut, PoolOut, UploadReportOut, brand_out
from .lists import by_id, of_caller, page_answer

brands = Router(auth=secret_key_auth, tags=["brands"], by_alias=True, exclude_unset=True)
pools_router = Router(auth=secret_key_auth, tags=["pools"], by_alias=True, exclude_unset=True)

PositiveMoney = PositiveAmount
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class BrandIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    logo_url: Url = Field(
        default="",
        max_length=500,
        pattern=r"^(https?://\S+)?$",
        json_schema_extra={"pattern": url_pattern(r"(?:https?://[^\sHIDDEN]+)?")},
    )
    terms: FreeText = Field(default="", max_length=20_000)
    currency: Currency = "RUB"


class PoolIn(Strict):
    brand: str = Field(min_length=1, max_length=32, description="brand id, brd_…")
    denomination: PositiveMoney
    currency: Currency | None = Field(default=None, description="the brand's currency")
    low_stock_threshold: int = Field(default=50, ge=0, le=10_000_000)


class CodesUploadIn(Strict):
    csv: FreeText = Field(min_length=1, description="CSV with the header code,pin,nominal,expiry")
    dry_run: bool = Field(default=False, description="check every row, store nothing")


class PoolQuery(ListQuery):
    brand: str | None = None


def pool_out(pool: CertificatePool) -> dict[str, Any]:
    """A pool annotated by `pools.with_stock`."""
    available: int = pool.stock_available  # type: ignore[attr-defined]  # annotation
    return {
        "id": pool.public_id,
        "object": "pool",
        "livemode": pool.livemode,
        "brand": pool.brand.public_id,
        "denomination": money_str(pool.denomination),
        "currency": pool.currency,
        "stock": {
            "available": available,
            "allocated": pool.stock_allocated,  # type: ignore[attr-defined]  # annotation
            "expired": pool.stock_expired,  # type: ignore[attr-defined]  # annotation
        },
        "low_stock_threshold": pool.low_stock_threshold,
        "low_stock": available <= pool.low_stock_threshold,
        "created_at": pool.created_at.isoformat(),
    }


def _brand(caller: ApiCaller, brand_id: str, param: str) -> Brand:
    return by_id(of_caller(Brand, caller), brand_id, "brand", param=param)


def _pools(caller: ApiCaller) -> QuerySet[CertificatePool]:
    return pools.with_stock(of_caller(CertificatePool, caller).select_related("brand"))


def _pool(caller: ApiCaller, pool_id: str) -> CertificatePool:
    return by_id(_pools(caller), pool_id, "pool")


@brands.get(
    "",
    response=answers({200: ListOut[BrandOut]}),
    summary="List reward brands, newest first",
    operation_id="sarafan_rewards_pools_api_list_brands",
)
def list_brands(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    return page_answer(of_caller(Brand, _caller(request)), query, brand_out)


@brands.post(
    "",
    response=answers({201: BrandOut}, body=True),
    summary="Add a reward brand",
    operation_id="sarafan_rewards_pools_api_create_brand",
)
def create_brand(request: HttpRequest, payload: BrandIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    brand = pools.create_brand(
        project=caller.project,
        livemode=caller.livemode,
        name=payload.name,
        logo_url=payload.logo_url,
        terms=payload.terms,
        currency=payload.currency,
    )
    return Status(201, brand_out(brand))


@brands.get(
    "/{brand_id}",
    response=answers({200: BrandOut}),
    summary="Get a reward brand",
    operation_id="sarafan_rewards_pools_api_get_brand",
)
def get_brand(request: HttpRequest, brand_id: str) -> dict[str, Any]:
    return brand_out(_brand(_caller(request), brand_id, "id"))


@pools_router.get(
    "",
    response=answers({200: ListOut[PoolOut]}),
    summary="List certificate pools with their stock",
    operation_id="sarafan_rewards_pools_api_list_pools",
)
def list_pools(request: HttpRequest, query: Query[PoolQuery]) -> dict[str, Any]:
    caller = _caller(request)
    queryset = _pools(caller)
    if query.brand:
        queryset = queryset.filter(brand=_brand(caller, query.brand, "brand"))
    return page_answer(queryset, query, pool_out)


@pools_router.post(
    "",
    response=answers({201: PoolOut}, body=True),
    summary="Add a pool of one brand and denomination",
    operation_id="sarafan_rewards_pools_api_create_pool",
)
def create_pool(request: HttpRequest, payload: PoolIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    pool = pools.create_pool(
        brand=_brand(caller, payload.brand, "brand"),
        denomination=payload.denomination,
        currency=payload.currency,
        low_stock_threshold=payload.low_stock_threshold,
    )
    return Status(201, pool_out(_pool(caller, pool.public_id)))


@pools_router.get(
    "/{pool_id}",
    response=answers({200: PoolOut}),
    summary="Get a pool with its stock",
    operation_id="sarafan_rewards_pools_api_get_pool",
)
def get_pool(request: HttpRequest, pool_id: str) -> dict[str, Any]:
    return pool_out(_pool(_caller(request), pool_id))


@pools_router.post(
    "/{pool_id}/codes",
    response=answers({200: UploadReportOut, 201: UploadReportOut}, body=True),
    summary="Upload codes as CSV (code,pin,nominal,expiry); dry_run checks without storing",
    description=(
        "Every row is checked (code 1–128 characters, nominal equal to the pool's "
        "denomination, expiry an ISO date or date-time in the future, no duplicate in the "
        "file or in the project). Valid rows are stored encrypted in one transaction; the "
        "report lists the rejected rows with the last characters of their code only. "
        "201 when codes were stored, 200 for a dry run or when no row was valid."
    ),
    operation_id="sarafan_rewards_pools_api_upload_codes",
)
def upload_codes(
    request: HttpRequest, pool_id: str, payload: CodesUploadIn
) -> Status[dict[str, Any]]:
    pool = _pool(_caller(request), pool_id)
    report = pools.upload_codes(pool=pool, csv_text=payload.csv, dry_run=payload.dry_run)
    return Status(201 if report["accepted"] and not payload.dry_run else 200, report)
