"""Schemas of the participants API (API.md, "Participants") and the participant serializer."""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import Field, StrictBool
from pydantic.config import JsonDict

from sarafan.core.money import money_str
from sarafan.core.schemas import (
    ONE_LINE_PATTERN,
    FreeJson,
    MoneyStr,
    Out,
    Strict,
    Timestamp,
    UrlStr,
)
from sarafan.links.models import UTM_KEYS, Channel
from sarafan.links.schemas import qr_url, referral_url

from .models import Participant

# Checked by the participants service, which names the field; the document describes them.
Tag = Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": 100})]
# "" clears a stored e-mail or phone.
EMAIL: JsonDict = {
    "anyOf": [
        {"type": "string", "format": "email", "maxLength": 254},
        {"type": "string", "maxLength": 0},
        {"type": "null"},
    ]
}
PHONE: JsonDict = {"pattern": r"^(?:\+[0-9]{7,15})?$", "description": "E.164: +79161234567"}
CONSENT: JsonDict = {"propertyNames": {"minLength": 1, "pattern": ONE_LINE_PATTERN}}


class ParticipantIn(Strict):
    """Fields left out (or null) keep their stored value; "" clears e-mail, phone or name."""

    email: str | None = Field(default=None, max_length=254, json_schema_extra=EMAIL)
    phone: str | None = Field(default=None, max_length=32, json_schema_extra=PHONE)
    name: str | None = Field(default=None, max_length=200)
    attributes: FreeJson | None = None
    tags: list[Tag] | None = None
    consent: dict[str, StrictBool] | None = Field(default=None, json_schema_extra=CONSENT)
    # The language of the e-mails this person gets ("" for the installation's default).
    language: Literal["ru", "en", ""] | None = None


class ParticipantStatsOut(Out):
    clicks: int
    signups: int
    orders: int
    rewards_amount: MoneyStr


class ParticipantOut(Out):
    id: str
    object: Literal["participant"]
    external_id: str
    livemode: bool
    email: str | None
    phone: str | None
    name: str | None
    attributes: dict[str, Any]
    tags: list[str]
    consent: dict[str, Any]
    language: str | None = Field(description="of the e-mails this person gets; null: the default")
    referral_code: str
    referral_url: UrlStr
    portal_url: UrlStr | None = Field(description="the private portal page; none once erased")
    qr_url: UrlStr
    created_at: Timestamp
    erased_at: Timestamp | None
    stats: ParticipantStatsOut


class TaxStatusOut(Out):
    object: Literal["tax_status"]
    participant: str
    year_total: MoneyStr
    threshold: MoneyStr
    state: Literal["ok", "near", "over"]
    details_recorded: bool
    held_rewards: int = Field(description="rewards waiting for the tax details")


class TaxDetailsIn(Strict):
    details: str = Field(min_length=1, max_length=500, description="e.g. the INN, kept encrypted")


class LinkIn(Strict):
    # Checked by the service, which names the channels in its answer.
    channel: str = Field(
        max_length=20,
        description="one of the link channels, e.g. email",
        json_schema_extra={"enum": list(Channel.values)},
    )
    utm: dict[str, str] | None = Field(
        default=None,
        description="utm_source, utm_medium, utm_campaign, utm_content, utm_term",
        json_schema_extra={"propertyNames": {"enum": list(UTM_KEYS)}},
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
