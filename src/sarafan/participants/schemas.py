"""Schemas of the participants API (API.md, "Participants") and the participant serializer."""

from collections.abc import Mapping
from typing import Any, Literal

from django.conf import settings
from pydantic import Field, StrictBool

from sarafan.core.money import money_str
from sarafan.core.schemas import FreeJson, Strict
from sarafan.links.schemas import qr_url, referral_url

from .models import Participant


class ParticipantIn(Strict):
    """Fields left out (or null) keep their stored value; "" clears e-mail, phone or name."""

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    attributes: FreeJson | None = None
    tags: list[str] | None = None
    consent: dict[str, StrictBool] | None = None
    # The language of the e-mails this person gets ("" for the installation's default).
    language: Literal["ru", "en", ""] | None = None


class TaxDetailsIn(Strict):
    details: str = Field(min_length=1, max_length=500, description="e.g. the INN, kept encrypted")


class LinkIn(Strict):
    channel: str = Field(max_length=20, description="one of the link channels, e.g. email")
    utm: dict[str, str] | None = Field(
        default=None, description="utm_source, utm_medium, utm_campaign, utm_content, utm_term"
    )
    campaign: str | None = Field(default=None, max_length=32, description="cmp_…; default one")


def portal_url(participant: Participant) -> str | None:
    """The private portal page; an erased participant has none."""
    token = participant.portal_token_value() if participant.erased_at is None else ""
    if not token:
        return None
    return f"{settings.BASE_URL}/p/{token}"


def participant_out(participant: Participant, stats: Mapping[str, Any]) -> dict[str, Any]:
    """A participant as API.md shows it, with the live stats the router counted
    (analytics.participants.participant_stats)."""
    code = participant.referral_code
    return {
        "id": participant.public_id,
        "object": "participant",
        "external_id": participant.external_id,
        "livemode": participant.livemode,
        "email": participant.email or None,
        "phone": participant.phone or None,
        "name": participant.name or None,
        "attributes": participant.attributes,
        "tags": participant.tags,
        "consent": participant.consent,
        "language": participant.language or None,
        "referral_code": code,
        "referral_url": referral_url(code),
        "portal_url": portal_url(participant),
        "qr_url": qr_url(code),
        "created_at": participant.created_at.isoformat(),
        "erased_at": participant.erased_at.isoformat() if participant.erased_at else None,
        "stats": {
            "clicks": stats["clicks"],
            "signups": stats["signups"],
            "orders": stats["orders"],
            "rewards_amount": money_str(stats["rewards_amount"]),
        },
    }
