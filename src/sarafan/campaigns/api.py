"""Campaigns API: create, list, read, change, pause, resume."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from sarafan.core.errors import NotFound
from sarafan.core.pagination import ListQuery as PageQuery
from sarafan.core.pagination import paginate
from sarafan.core.schemas import ListOut, answers
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.rewards.sources import CAMPAIGN_SOURCES

from . import services
from .models import Campaign, CampaignStatus
from .schemas import CampaignIn, CampaignOut, CampaignPatch, campaign_out
from .selectors import default_campaign

router = Router(auth=secret_key_auth, tags=["campaigns"], by_alias=True, exclude_unset=True)


class ListQuery(PageQuery):
    status: CampaignStatus | None = None


def _get(request: HttpRequest, campaign_id: str) -> Campaign:
    caller = _caller(request)
    campaign = (
        Campaign.objects.filter(
            project=caller.project, livemode=caller.livemode, public_id=campaign_id
        )
        .prefetch_related("rules")
        .first()
    )
    if campaign is None:
        raise NotFound(f"No campaign '{campaign_id}'.", param="id")
    return campaign


def _out(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    caller = _caller(request)
    default = default_campaign(project=caller.project, livemode=caller.livemode)
    return campaign_out(campaign, is_default=default is not None and default.pk == campaign.pk)


@router.post("", response=answers({201: CampaignOut}, body=True), summary="Create a campaign")
def create(request: HttpRequest, payload: CampaignIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    campaign = services.create_campaign(
        project=caller.project, livemode=caller.livemode, data=payload, sources=CAMPAIGN_SOURCES
    )
    return Status(201, _out(request, _get(request, campaign.public_id)))


@router.get(
    "", response=answers({200: ListOut[CampaignOut]}), summary="List campaigns, newest first"
)
def list_campaigns(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    caller = _caller(request)
    queryset = Campaign.objects.filter(project=caller.project, livemode=caller.livemode)
    if query.status:
        queryset = queryset.filter(status=query.status)
    page, has_more = paginate(
        queryset.prefetch_related("rules"), limit=query.limit, starting_after=query.starting_after
    )
    default = default_campaign(project=caller.project, livemode=caller.livemode)
    default_pk = default.pk if default else None
    return {
        "object": "list",
        "data": [campaign_out(c, is_default=c.pk == default_pk) for c in page],
        "has_more": has_more,
    }


@router.get("/{campaign_id}", response=answers({200: CampaignOut}), summary="Get a campaign")
def get(request: HttpRequest, campaign_id: str) -> dict[str, Any]:
    return _out(request, _get(request, campaign_id))


@router.patch(
    "/{campaign_id}", response=answers({200: CampaignOut}, body=True), summary="Change a campaign"
)
def patch(request: HttpRequest, campaign_id: str, payload: CampaignPatch) -> dict[str, Any]:
    services.update_campaign(
        campaign=_get(request, campaign_id), data=payload, sources=CAMPAIGN_SOURCES
    )
    return _out(request, _get(request, campaign_id))


@router.post(
    "/{campaign_id}/pause",
    response=answers({200: CampaignOut}, body=True),
    summary="Pause a campaign",
)
def pause(request: HttpRequest, campaign_id: str) -> dict[str, Any]:
    services.change_status(campaign=_get(request, campaign_id), status=CampaignStatus.PAUSED)
    return _out(request, _get(request, campaign_id))


@router.post(
    "/{campaign_id}/resume",
    response=answers({200: CampaignOut}, body=True),
    summary="Resume a paused campaign",
)
def resume(request: HttpRequest, campaign_id: str) -> dict[str, Any]:
    services.change_status(campaign=_get(request, campaign_id), status=CampaignStatus.ACTIVE)
    return _out(request, _get(request, campaign_id))
