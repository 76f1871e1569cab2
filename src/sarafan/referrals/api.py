"""Referrals API: who brought whom, the risk verdict with its evidence, and moderation."""

from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router
from pydantic import ConfigDict, Field

from sarafan.campaigns.models import Campaign
from sarafan.campaigns.selectors import find_campaign
from sarafan.core.errors import InvalidRequest, NotFound
from sarafan.core.pagination import ListQuery, paginate
from sarafan.core.schemas import ListOut, Strict, answers
from sarafan.fraud.risk import REASONS
from sarafan.fraud.services import risk_out
from sarafan.moderation import services as moderation
from sarafan.moderation.selectors import evidence
from sarafan.participants.models import Participant
from sarafan.participants.selectors import find_participant
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller

from .models import Referral, ReferralStatus
from .schemas import ReferralDecidedOut, ReferralOut, ReviewResultOut

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


class DecideIn(Strict):
    reason: str = Field(default="", max_length=500)


def _decide(request: HttpRequest, referral_id: str, action: str, reason: str) -> dict[str, Any]:
    referral = _referral(request, referral_id)
    decision = moderation.decide(
        referral=referral, action=action, actor=_actor(request), reason=reason
    )
    return {**referral_out(_referral(request, referral_id)), "decision": decision.public_id}


@router.post(
    "/{referral_id}/approve",
    response=answers({200: ReferralDecidedOut}, body=True),
    summary="Approve a referral in review",
)
def approve(
    request: HttpRequest, referral_id: str, payload: DecideIn | None = None
) -> dict[str, Any]:
    return _decide(request, referral_id, moderation.APPROVE, payload.reason if payload else "")


@router.post(
    "/{referral_id}/reject",
    response=answers({200: ReferralDecidedOut}, body=True),
    summary="Reject a referral in review",
)
def reject(
    request: HttpRequest, referral_id: str, payload: DecideIn | None = None
) -> dict[str, Any]:
    return _decide(request, referral_id, moderation.REJECT, payload.reason if payload else "")


class ReviewFilter(Strict):
    campaign: str | None = Field(default=None, max_length=32)
    min_score: float | None = Field(default=None, ge=0, le=1)
    max_score: float | None = Field(default=None, ge=0, le=1)
    reason: str | None = Field(default=None, max_length=40)


class BulkIn(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["ids"], "properties": {"ids": {"type": "array"}}},
                {"required": ["filter"], "properties": {"filter": {"type": "object"}}},
            ]
        }
    )

    action: Literal["approve", "reject"]
    ids: list[str] | None = Field(default=None, min_length=1, max_length=500)
    filter: ReviewFilter | None = None
    reason: str = Field(default="", max_length=500)


@router.post(
    "/review",
    response=answers({200: ReviewResultOut}, body=True),
    summary="Decide many referrals in review at once",
)
def review_many(request: HttpRequest, payload: BulkIn) -> dict[str, Any]:
    """Either `ids` or `filter` (campaign, min_score, max_score, reason); at most 500 a call."""
    caller = _caller(request)
    if (payload.ids is None) == (payload.filter is None):
        raise InvalidRequest("Send either 'ids' or 'filter'.", param="ids")
    queue = moderation.review_queue(project_id=caller.project.pk, livemode=caller.livemode)
    if payload.ids is not None:
        chosen = list(queue.filter(public_id__in=payload.ids))
        missing = len(set(payload.ids)) - len(chosen)
    else:
        rules = payload.filter or ReviewFilter()
        if rules.reason and rules.reason not in REASONS:
            raise InvalidRequest(f"'{rules.reason}' is not a reason code.", param="filter.reason")
        queue = moderation.review_queue(
            project_id=caller.project.pk,
            livemode=caller.livemode,
            campaign=_campaign(caller, rules.campaign),
            min_score=rules.min_score,
            max_score=rules.max_score,
            reason=rules.reason,
        )
        chosen, missing = list(queue[:500]), 0
    result = moderation.decide_many(
        chosen, action=payload.action, actor=_actor(request), reason=payload.reason
    )
    return {
        "object": "review_result",
        "action": payload.action,
        "decided": result.decided,
        "skipped": result.skipped + missing,
    }


# Registered after /review: Django tries the paths in order, and "/{referral_id}" (GET only)
# would take "/review" for an id and answer POST /review with 405.
@router.get(
    "/{referral_id}",
    response=answers({200: ReferralOut}),
    summary="Get a referral with its risk evidence",
)
def get_referral(request: HttpRequest, referral_id: str) -> dict[str, Any]:
    return referral_out(_referral(request, referral_id), with_evidence=True)
