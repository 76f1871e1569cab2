"""Rewards and certificates API."""

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status

from sarafan.campaigns.selectors import find_campaign
from sarafan.core.errors import NotFound
from sarafan.core.pagination import ListQuery
from sarafan.core.schemas import ListOut, answers
from sarafan.participants.models import Participant
from sarafan.participants.selectors import find_participant
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller

from .. import services, waiting
from ..models import Brand, Certificate, Reward, RewardStatus, Waiting, certificate_code_hash
from ..schemas import (
    BrandChoiceIn,
    CertificateOut,
    DecisionIn,
    DeliveryOut,
    ManualRewardIn,
    RedeemIn,
    RedeemOut,
    RewardOut,
    brand_out,
    certificate_out,
    history_out,
    redemption_out,
    reward_detail,
)
from ..sources import offered_brands
from .lists import by_id, of_caller, page_answer

rewards = Router(auth=secret_key_auth, tags=["rewards"], by_alias=True, exclude_unset=True)
# Statuses in which the recipient may still choose the certificate's brand.
CHOOSING = {RewardStatus.PENDING, RewardStatus.REVIEW, RewardStatus.APPROVED}
certificates = Router(
    auth=secret_key_auth, tags=["certificates"], by_alias=True, exclude_unset=True
)


def _rewards(caller: ApiCaller) -> QuerySet[Reward]:
    return of_caller(Reward, caller).select_related(
        "recipient", "referral", "campaign", "certificate", "brand", "banked_into__certificate"
    )


def _reward(request: HttpRequest, reward_id: str) -> Reward:
    return by_id(_rewards(_caller(request)), reward_id, "reward")


def _participant(caller: ApiCaller, external_id: str, param: str) -> Participant:
    return find_participant(
        project=caller.project, livemode=caller.livemode, external_id=external_id, param=param
    )


class RewardQuery(ListQuery):
    participant: str | None = None
    status: RewardStatus | None = None
    waiting: Waiting | None = None
    campaign: str | None = None
    brand: str | None = None


@rewards.get(
    "",
    response=answers({200: ListOut[RewardOut]}),
    summary="List rewards, newest first",
    operation_id="sarafan_rewards_api_list_rewards",
)
def list_rewards(request: HttpRequest, query: Query[RewardQuery]) -> dict[str, Any]:
    caller = _caller(request)
    queryset = _rewards(caller)
    if query.participant:
        queryset = queryset.filter(recipient=_participant(caller, query.participant, "participant"))
    if query.status:
        queryset = queryset.filter(status=query.status)
    if query.waiting:
        queryset = queryset.filter(status=RewardStatus.APPROVED, waiting=query.waiting)
    if query.campaign:
        queryset = queryset.filter(campaign__public_id=query.campaign)
    if query.brand:
        queryset = queryset.filter(brand__public_id=query.brand)
    return page_answer(queryset, query, reward_detail)


@rewards.post(
    "",
    response=answers({201: RewardOut}, body=True),
    summary="Give a reward by hand; issued at once",
    operation_id="sarafan_rewards_api_create_reward",
)
def create_reward(request: HttpRequest, payload: ManualRewardIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    campaign = find_campaign(
        project=caller.project, livemode=caller.livemode, public_id=payload.campaign
    )
    reward = services.create_manual_reward(
        project=caller.project,
        livemode=caller.livemode,
        recipient=_participant(caller, payload.recipient, "recipient"),
        amount=payload.amount,
        currency=payload.currency,
        campaign=campaign,
        actor="api",
        note=payload.note,
    )
    return Status(201, reward_detail(_reward(request, reward.public_id)))


@rewards.get(
    "/{reward_id}",
    response=answers({200: RewardOut}),
    summary="Get a reward with its certificate",
    operation_id="sarafan_rewards_api_get_reward",
)
def get_reward(request: HttpRequest, reward_id: str) -> dict[str, Any]:
    """Also the reward's history (each step is the event `reward.<status>`) and, while
    the recipient may choose, the brands offered."""
    reward = _reward(request, reward_id)
    body = reward_detail(reward)
    body["history"] = [history_out(event) for event in reward.history.all()]
    choosing = reward.status in CHOOSING and not body["certificate"]
    body["brand_options"] = (
        [brand_out(b, option=True) for b in offered_brands(reward)] if choosing else []
    )
    return body


@rewards.post(
    "/{reward_id}/brand",
    response=answers({200: RewardOut}, body=True),
    summary="Choose the brand of the certificate",
    operation_id="sarafan_rewards_api_choose_brand",
)
def choose_brand(request: HttpRequest, reward_id: str, payload: BrandChoiceIn) -> dict[str, Any]:
    caller = _caller(request)
    reward = _reward(request, reward_id)
    brand = by_id(of_caller(Brand, caller), payload.brand, "brand", param="brand")
    waiting.choose_brand(reward, brand, actor="api")
    return reward_detail(_reward(request, reward_id))


@rewards.post(
    "/{reward_id}/retry",
    response=answers({200: RewardOut}, body=True),
    summary="Try to issue a waiting reward now",
    operation_id="sarafan_rewards_api_retry",
)
def retry(request: HttpRequest, reward_id: str) -> dict[str, Any]:
    waiting.retry_now(_reward(request, reward_id), actor="api")
    return reward_detail(_reward(request, reward_id))


@rewards.post(
    "/{reward_id}/resend",
    response=answers({200: DeliveryOut}, body=True),
    summary="E-mail the certificate again (queued: status sending until the worker sent it)",
    operation_id="sarafan_rewards_api_resend",
)
def resend(request: HttpRequest, reward_id: str) -> dict[str, Any]:
    from ..tasks import queue_resend

    delivery = queue_resend(_reward(request, reward_id), actor="api")
    delivery.refresh_from_db()  # sent already when the task ran on commit
    return {
        "object": "delivery",
        "reward": reward_id,
        "kind": delivery.kind,
        "status": delivery.status,
        "error": delivery.error or None,
        "created_at": delivery.created_at.isoformat(),
    }


def _decide(
    request: HttpRequest,
    reward_id: str,
    payload: DecisionIn | None,
    decide: Callable[..., object],
) -> dict[str, Any]:
    decide(reward=_reward(request, reward_id), actor="api", note=payload.note if payload else "")
    return reward_detail(_reward(request, reward_id))


@rewards.post(
    "/{reward_id}/cancel",
    response=answers({200: RewardOut}, body=True),
    summary="Cancel a reward; claws back the unredeemed balance",
    operation_id="sarafan_rewards_api_cancel",
)
def cancel(
    request: HttpRequest, reward_id: str, payload: DecisionIn | None = None
) -> dict[str, Any]:
    return _decide(request, reward_id, payload, services.cancel_reward)


def _certificate(request: HttpRequest, code: str) -> Certificate:
    caller = _caller(request)
    certificate = Certificate.objects.filter(
        project=caller.project, livemode=caller.livemode, code_hash=certificate_code_hash(code)
    ).first()
    if certificate is None:
        raise NotFound(f"No certificate '{code}'.", param="code")
    return certificate


@certificates.get(
    "/{code}",
    response=answers({200: CertificateOut}),
    summary="Status and balance of a certificate",
    operation_id="sarafan_rewards_api_get_certificate",
)
def get_certificate(request: HttpRequest, code: str) -> dict[str, Any]:
    return certificate_out(_certificate(request, code), with_pin=False)


@certificates.post(
    "/{code}/redeem",
    response=answers({200: RedeemOut, 201: RedeemOut}, body=True),
    summary="Redeem part or all of the balance; once per order_id",
    operation_id="sarafan_rewards_api_redeem",
)
def redeem(request: HttpRequest, code: str, payload: RedeemIn) -> Status[dict[str, Any]]:
    redemption, created = services.redeem_certificate(
        certificate=_certificate(request, code), amount=payload.amount, order_id=payload.order_id
    )
    body = {
        "certificate": certificate_out(_certificate(request, code), with_pin=False),
        "redemption": redemption_out(redemption),
    }
    return Status(201 if created else 200, body)
