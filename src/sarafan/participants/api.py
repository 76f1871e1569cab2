"""Participants API: upsert by external_id, read, erase, and extra links per channel."""

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Status

from sarafan.analytics.participants import participant_stats
from sarafan.campaigns.selectors import find_campaign
from sarafan.core.money import money_str
from sarafan.core.pagination import ListQuery, paginate
from sarafan.core.schemas import ListOut, answers
from sarafan.fraud.services import record_contacts
from sarafan.links.models import Link
from sarafan.links.schemas import LinkOut, link_out
from sarafan.projects.auth import caller as _caller
from sarafan.projects.auth import secret_key_auth
from sarafan.projects.services import ApiCaller
from sarafan.rewards.erasure import erase_participant

from . import services
from .models import Participant
from .schemas import (
    LinkIn,
    ParticipantIn,
    ParticipantOut,
    TaxDetailsIn,
    TaxStatusOut,
    participant_out,
)
from .selectors import find_participant

router = Router(tags=["participants"], by_alias=True, exclude_unset=True)


def _out(participant: Participant) -> dict[str, Any]:
    return participant_out(participant, participant_stats(participant=participant))


def _get(request: HttpRequest, external_id: str) -> Participant:
    caller = _caller(request)
    return find_participant(
        project=caller.project,
        livemode=caller.livemode,
        external_id=external_id,
        param="external_id",
    )


@router.put(
    "/{external_id}",
    auth=secret_key_auth,
    response=answers({200: ParticipantOut, 201: ParticipantOut}, body=True),
    summary="Create or update a participant (201 when created, 200 when updated)",
)
def upsert(
    request: HttpRequest, external_id: str, payload: ParticipantIn
) -> Status[dict[str, Any]]:
    caller = _caller(request)
    with transaction.atomic():
        participant, created = services.upsert_participant(
            project=caller.project,
            livemode=caller.livemode,
            external_id=external_id,
            **payload.model_dump(),
        )
        record_contacts(participant=participant)
    return Status(201 if created else 200, _out(participant))


@router.get(
    "/{external_id}",
    auth=secret_key_auth,
    response=answers({200: ParticipantOut}),
    summary="Get a participant",
)
def get(request: HttpRequest, external_id: str) -> dict[str, Any]:
    return _out(_get(request, external_id))


@router.delete(
    "/{external_id}",
    auth=secret_key_auth,
    response=answers({200: ParticipantOut}, body=True),
    summary="Erase a participant's personal data; answers 200 with the anonymized participant",
    description=(
        "E-mail, phone, name, attributes, tags, consent and click details are erased and the "
        "external_id becomes `erased-<id>`; codes, counts, rewards and money stay."
    ),
)
def erase(request: HttpRequest, external_id: str) -> dict[str, Any]:
    return _out(erase_participant(participant=_get(request, external_id)))


@router.post(
    "/{external_id}/links",
    auth=secret_key_auth,
    response=answers({201: LinkOut}, body=True),
    summary="Create another link for a channel, with UTM parameters",
)
def create_link(request: HttpRequest, external_id: str, payload: LinkIn) -> Status[dict[str, Any]]:
    caller = _caller(request)
    participant = _get(request, external_id)
    campaign = find_campaign(
        project=caller.project, livemode=caller.livemode, public_id=payload.campaign
    )
    link = services.create_link(
        participant=participant, channel=payload.channel, utm=payload.utm, campaign=campaign
    )
    return Status(201, link_out(link))


@router.get(
    "/{external_id}/links",
    auth=secret_key_auth,
    response=answers({200: ListOut[LinkOut]}),
    summary="List a participant's links, newest first",
)
def list_links(request: HttpRequest, external_id: str, query: Query[ListQuery]) -> dict[str, Any]:
    participant = _get(request, external_id)
    page, has_more = paginate(
        Link.objects.filter(participant=participant).select_related("campaign"),
        limit=query.limit,
        starting_after=query.starting_after,
    )
    return {"object": "list", "data": [link_out(link) for link in page], "has_more": has_more}


def _tax_out(participant: Participant, caller: ApiCaller) -> dict[str, Any]:
    from sarafan.rewards.tax import tax_status

    status = tax_status(participant, caller.project)
    return {
        "object": "tax_status",
        "participant": participant.external_id,
        "year_total": money_str(status.year_total),
        "threshold": money_str(status.threshold),
        "state": status.state,
        "details_recorded": status.details_recorded,
        "held_rewards": status.held,
    }


@router.get(
    "/{external_id}/tax",
    auth=secret_key_auth,
    response=answers({200: TaxStatusOut}),
    summary="This year's rewards against the gift-tax threshold",
)
def tax(request: HttpRequest, external_id: str) -> dict[str, Any]:
    return _tax_out(_get(request, external_id), _caller(request))


@router.post(
    "/{external_id}/tax_details",
    auth=secret_key_auth,
    response=answers({200: TaxStatusOut}, body=True),
    summary="Record tax details (encrypted); rewards held for them are issued",
)
def record_tax_details(
    request: HttpRequest, external_id: str, payload: TaxDetailsIn
) -> dict[str, Any]:
    from sarafan.rewards.waiting import record_tax_details as record

    participant = _get(request, external_id)
    record(participant, payload.details)
    return _tax_out(participant, _caller(request))
