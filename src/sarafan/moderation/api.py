"""Moderation API: decisions on referrals and rewards in review, bulk review, fraudster
marks, and reversing decisions.

Its routers are mounted at the paths these endpoints always had (/referrals, /rewards,
/fraud; see sarafan/api.py), beside the routers of those apps, with the same operation ids.
"""

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
from sarafan.participants.models import Participant
from sarafan.participants.selectors import find_participant
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller
from sarafan.referrals.api import _referral, referral_out
from sarafan.rewards.api.rewards import _reward
from sarafan.rewards.schemas import DecisionIn, RewardOut, reward_detail

from . import services as moderation
from .models import Decision
from .schemas import DecisionOut, FraudsterOut, ReferralDecidedOut, ReviewResultOut

ACTOR = "api"
OPTIONS: dict[str, Any] = {"auth": secret_key_auth, "by_alias": True, "exclude_unset": True}
# Mounted before the referrals router: "/review" must be tried before "/{referral_id}".
referrals = Router(tags=["referrals"], **OPTIONS)
rewards = Router(tags=["rewards"], **OPTIONS)
fraud = Router(tags=["anti-fraud"], **OPTIONS)


def _campaign(caller: ApiCaller, public_id: str | None) -> Campaign | None:
    return find_campaign(project=caller.project, livemode=caller.livemode, public_id=public_id)


# --- referrals in review ----------------------------------------------------------------------


class DecideIn(Strict):
    reason: str = Field(default="", max_length=500)


def _decide(request: HttpRequest, referral_id: str, action: str, reason: str) -> dict[str, Any]:
    referral = _referral(request, referral_id)
    decision = moderation.decide(referral=referral, action=action, actor=ACTOR, reason=reason)
    return {**referral_out(_referral(request, referral_id)), "decision": decision.public_id}


@referrals.post(
    "/{referral_id}/approve",
    response=answers({200: ReferralDecidedOut}, body=True),
    summary="Approve a referral in review",
    operation_id="sarafan_referrals_api_approve",
)
def approve(
    request: HttpRequest, referral_id: str, payload: DecideIn | None = None
) -> dict[str, Any]:
    return _decide(request, referral_id, moderation.APPROVE, payload.reason if payload else "")


@referrals.post(
    "/{referral_id}/reject",
    response=answers({200: ReferralDecidedOut}, body=True),
    summary="Reject a referral in review",
    operation_id="sarafan_referrals_api_reject",
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


@referrals.post(
    "/review",
    response=answers({200: ReviewResultOut}, body=True),
    summary="Decide many referrals in review at once",
    operation_id="sarafan_referrals_api_review_many",
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
        chosen, action=payload.action, actor=ACTOR, reason=payload.reason
    )
    return {
        "object": "review_result",
        "action": payload.action,
        "decided": result.decided,
        "skipped": result.skipped + missing,
    }


# --- rewards in review ------------------------------------------------------------------------


def _moderate(
    request: HttpRequest, reward_id: str, payload: DecisionIn | None, action: str
) -> dict[str, Any]:
    """Approve or reject, recorded as a moderation decision (reversible until paid out)."""
    note = payload.note if payload else ""
    moderation.decide_reward(
        reward=_reward(request, reward_id), action=action, actor=ACTOR, reason=note
    )
    return reward_detail(_reward(request, reward_id))


@rewards.post(
    "/{reward_id}/approve",
    response=answers({200: RewardOut}, body=True),
    summary="Approve a held reward; issues it",
    operation_id="sarafan_rewards_api_approve",
)
def approve_reward(
    request: HttpRequest, reward_id: str, payload: DecisionIn | None = None
) -> dict[str, Any]:
    return _moderate(request, reward_id, payload, moderation.APPROVE)


@rewards.post(
    "/{reward_id}/reject",
    response=answers({200: RewardOut}, body=True),
    summary="Reject a reward not yet paid",
    operation_id="sarafan_rewards_api_reject",
)
def reject_reward(
    request: HttpRequest, reward_id: str, payload: DecisionIn | None = None
) -> dict[str, Any]:
    return _moderate(request, reward_id, payload, moderation.REJECT)


# --- fraudsters and decisions -----------------------------------------------------------------


class FraudsterIn(Strict):
    participant: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=500)


def _participant(caller: ApiCaller, external_id: str) -> Participant:
    return find_participant(
        project=caller.project,
        livemode=caller.livemode,
        external_id=external_id,
        param="participant",
    )


@fraud.post(
    "/fraudsters",
    response=answers({200: FraudsterOut}, body=True),
    summary="Mark a participant as a fraudster: their signals flag later events",
    operation_id="sarafan_fraud_api_mark",
)
def mark(request: HttpRequest, payload: FraudsterIn) -> dict[str, Any]:
    participant = _participant(_caller(request), payload.participant)
    rejected = moderation.mark_fraudster(
        participant=participant, actor=ACTOR, reason=payload.reason
    )
    return {"object": "fraudster", "participant": participant.external_id, "rejected": rejected}


@fraud.delete(
    "/fraudsters/{external_id}",
    response=answers({200: FraudsterOut}, body=True),
    summary="Take a fraudster mark back",
    operation_id="sarafan_fraud_api_unmark",
)
def unmark(request: HttpRequest, external_id: str) -> dict[str, Any]:
    participant = _participant(_caller(request), external_id)
    moderation.unmark_fraudster(participant=participant, actor=ACTOR)
    return {"object": "fraudster", "participant": participant.external_id, "deleted": True}


class ReverseIn(Strict):
    reason: str = Field(default="", max_length=500)


def decision_out(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.public_id,
        "object": "decision",
        "action": decision.action,
        "referral": decision.referral.public_id if decision.referral else None,
        "reward": decision.reward.public_id if decision.reward else None,
        "actor": decision.actor,
        "reason": decision.reason,
        "created_at": decision.created_at.isoformat(),
        "reversed_at": decision.reversed_at.isoformat() if decision.reversed_at else None,
        "reversed_by": decision.reversed_by,
    }


def _decisions(caller: ApiCaller) -> QuerySet[Decision]:
    return Decision.objects.filter(project=caller.project, livemode=caller.livemode).select_related(
        "referral", "reward"
    )


@fraud.get(
    "/decisions",
    response=answers({200: ListOut[DecisionOut]}),
    summary="Moderation decisions, newest first",
    operation_id="sarafan_fraud_api_list_decisions",
)
def list_decisions(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    page, has_more = paginate(
        _decisions(_caller(request)), limit=query.limit, starting_after=query.starting_after
    )
    return {"object": "list", "data": [decision_out(d) for d in page], "has_more": has_more}


@fraud.post(
    "/decisions/{decision_id}/reverse",
    response=answers({200: DecisionOut}, body=True),
    summary="Reverse a decision while nothing of its case is paid out",
    operation_id="sarafan_fraud_api_reverse",
)
def reverse(
    request: HttpRequest, decision_id: str, payload: ReverseIn | None = None
) -> dict[str, Any]:
    decision = _decisions(_caller(request)).filter(public_id=decision_id).first()
    if decision is None:
        raise NotFound(f"No decision '{decision_id}'.", param="id")
    moderation.reverse(decision=decision, actor=ACTOR, reason=payload.reason if payload else "")
    return decision_out(_decisions(_caller(request)).get(pk=decision.pk))
