"""Referrals API: who brought whom, and the risk verdict with its evidence."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router
from pydantic import Field

from sarafan.campaigns.models import Campaign
from sarafan.campaigns.selectors import find_campaign
from sarafan.core.errors import NotFound
from sarafan.core.pagination import ListQuery, paginate
from sarafan.core.schemas import ListOut, answers
from sarafan.fraud.services import risk_out
from sarafan.moderation.selectors import evidence
from sarafan.participants.models import Participant
from sarafan.participants.selectors import find_participant
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller

from .models import Referral, ReferralStatus
from .schemas import ReferralOut

router = Router(auth=secret_key_auth, tags=["referrals"], by_alias=True, exclude_unset=True)


def _actor(request: HttpRequest) -> str:
    return "api"


def referral_out(referral: Referral, *, with_evidence: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": referral.public_id,
        "object": "referral",
        "livemode": referral.livemode,
        "campaign": referral.campaign.public_id,
        "referrer": referral.referrer.external_id,
        "referee": referral.referee.external_id,
        "status": referral.status,
        "channel": referral.channel,
        "source": referral.source,
        "created_at": referral.created_at.isoformat(),
        "qualified_at": referral.qualified_at.isoformat() if referral.qualified_at else None,
        "risk": risk_out(
            referral.risk_score,
            referral.risk_decision,
            list(referral.risk_reasons),
            referral.risk_details,
        ),
    }
    if with_evidence:
        data["evidence"] = evidence(referral)
    return data


def _referrals(caller: ApiCaller) -> QuerySet[Referral]:
    return Referral.objects.filter(project=caller.project, livemode=caller.livemode).select_related(
        "referrer", "referee", "campaign"
    )


def _referral(request: HttpRequest, referral_id: str) -> Referral:
    referral = _referrals(_caller(request)).filter(public_id=referral_id).first()
    if referral is None:
        raise NotFound(f"No referral '{referral_id}'.", param="id")
    return referral


def _participant(caller: ApiCaller, external_id: str, param: str) -> Participant:
    return find_participant(
        project=caller.project, livemode=caller.livemode, external_id=external_id, param=param
    )


def _campaign(caller: ApiCaller, public_id: str | None) -> Campaign | None:
    return find_campaign(project=caller.project, livemode=caller.livemode, public_id=public_id)


class ReferralQuery(ListQuery):
    referrer: str | None = None
    referee: str | None = None
    status: ReferralStatus | None = None
    campaign: str | None = None
    min_score: float | None = Field(default=None, ge=0, le=1)
    reason: str | None = None


@router.get(
    "", response=answers({200: ListOut[ReferralOut]}), summary="List referrals, newest first"
)
def list_referrals(request: HttpRequest, query: Query[ReferralQuery]) -> dict[str, Any]:
    caller = _caller(request)
    queryset = _referrals(caller)
    if query.referrer:
        queryset = queryset.filter(referrer=_participant(caller, query.referrer, "referrer"))
    if query.referee:
        queryset = queryset.filter(referee=_participant(caller, query.referee, "referee"))
    if query.status:
        queryset = queryset.filter(status=query.status)
    if query.campaign:
        queryset = queryset.filter(campaign=_campaign(caller, query.campaign))
    if query.min_score is not None:
        queryset = queryset.filter(risk_score__gte=query.min_score)
    if query.reason:
        queryset = queryset.filter(risk_reasons__icontains=f'"{query.reason}"')
    page, has_more = paginate(queryset, limit=query.limit, starting_after=query.starting_after)
    return {"object": "list", "data": [referral_out(r) for r in page], "has_more": has_more}


# The moderation endpoints under /referrals (approve, reject, review) are moderation/api.py's;
# that router is mounted first, so "/{referral_id}" (GET only) never takes "/review" for an id.
@router.get(
    "/{referral_id}",
    response=answers({200: ReferralOut}),
    summary="Get a referral with its risk evidence",
)
def get_referral(request: HttpRequest, referral_id: str) -> dict[str, Any]:
    return referral_out(_referral(request, referral_id), with_evidence=True)
