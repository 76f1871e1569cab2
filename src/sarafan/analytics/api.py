"""Analytics API: the summary of a project's referral program over a period."""

import re
from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from sarafan.campaigns.selectors import find_campaign
from sarafan.core.errors import InvalidRequest
from sarafan.core.schemas import EARLIEST_DAY, LATEST_DAY, answers, day_in_range
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth

from . import services
from .schemas import SummaryOut, SummaryQuery

router = Router(auth=secret_key_auth, tags=["analytics"])

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: str, *, param: str) -> date:
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"'{param}' must be a date as YYYY-MM-DD.", code="invalid_value", param=param
        ) from None
    if not day_in_range(day):
        raise InvalidRequest(
            f"'{param}' must be a date from {EARLIEST_DAY} to before {LATEST_DAY}.",
            code="invalid_value",
            param=param,
        )
    return day


@router.get(
    "/summary", response=answers({200: SummaryOut}), by_alias=True, summary="Program summary"
)
def summary(request: HttpRequest, query: Query[SummaryQuery]) -> dict[str, Any]:
    """Funnel and economics for a period (default: the last 30 days), optionally grouped."""
    caller = _caller(request)
    date_to = _day(query.date_to, param="to") if query.date_to else None
    default_from, date_to = services.default_period(today=date_to)
    date_from = _day(query.date_from, param="from") if query.date_from else default_from
    campaign = find_campaign(
        project=caller.project, livemode=caller.livemode, public_id=query.campaign
    )
    return services.summary(
        project=caller.project,
        livemode=caller.livemode,
        campaign=campaign,
        date_from=date_from,
        date_to=date_to,
        group_by=query.group_by or None,
    )
