"""Participant write operations: upsert by external_id, blanking for erasure, extra links.

An erasure crosses apps (rewards' delivery addresses, fraud's identity signals): it is run
by `rewards/erasure.py` (`erase_participant`), which calls `blank_personal_data` here.
"""

import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from sarafan.campaigns.models import Campaign
from sarafan.campaigns.selectors import default_campaign
from sarafan.core.codes import new_referral_code
from sarafan.core.errors import InvalidRequest
from sarafan.core.identity import normalize_phone
from sarafan.links.models import UTM_KEYS, Channel, Click, Link
from sarafan.projects.models import Project

from .models import Participant

# A fresh code colliding with an existing one is rare (31^8 codes); a few retries are plenty.
CODE_ATTEMPTS = 5
PORTAL_TOKEN_BYTES = 32
MAX_EXTERNAL_ID = 200
MAX_EMAIL = 254
MAX_NAME = 200
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY = 100
MAX_TAGS = 100
MAX_TAG = 100
MAX_CONSENT = 50
MAX_UTM_VALUE = 200
# E.164: a plus and 7–15 digits, the first not zero; spaces, dashes, dots and brackets dropped.
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


def _external_id(value: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_EXTERNAL_ID:
        raise InvalidRequest(
            f"external_id must be 1–{MAX_EXTERNAL_ID} characters.",
            param="external_id",
            code="invalid_external_id",
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidRequest(
            "external_id may not contain control characters.",
            param="external_id",
            code="invalid_external_id",
        )
    return value


def _email(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("email must be a string.", param="email", code="invalid_email")
    value = value.strip()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidRequest(
            f"'{value}' is not a valid e-mail address.", param="email", code="invalid_email"
        ) from None
    if len(value) > MAX_EMAIL:
        raise InvalidRequest(
            f"email is longer than {MAX_EMAIL} characters.", param="email", code="invalid_email"
        )
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _phone(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("phone must be a string.", param="phone", code="invalid_phone")
    value = _PHONE_SEPARATORS.sub("", value)
    if not value:
        return ""
    if not _PHONE.match(value):
        # A national number (8 916 …) is read in SARAFAN_PHONE_REGION and stored as E.164.
        national = normalize_phone(value, settings.SARAFAN_PHONE_REGION)
        if national is not None and _PHONE.match(national):
            return national
        raise InvalidRequest(
            "phone must be in international format: '+' and 7–15 digits, e.g. +79161234567.",
            param="phone",
            code="invalid_phone",
        )
    return value


def _name(value: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise InvalidRequest(
            f"name must be a string of at most {MAX_NAME} characters.",
            param="name",
            code="invalid_value",
        )
    return value.strip()


def _attributes(value: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(
            "attributes must be an object.", param="attributes", code="invalid_value"
        )
    if len(value) > MAX_ATTRIBUTES:
        raise InvalidRequest(
            f"attributes may have at most {MAX_ATTRIBUTES} keys.",
            param="attributes",
            code="invalid_value",
        )
    for key in value:
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_ATTRIBUTE_KEY:
            raise InvalidRequest(
                f"attribute names must be 1–{MAX_ATTRIBUTE_KEY} characters.",
                param="attributes",
                code="invalid_value",
            )
    return dict(value)


def _tags(value: list[str]) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise InvalidRequest(
            f"tags must be a list of at most {MAX_TAGS} strings.",
            param="tags",
            code="invalid_value",
        )
    for tag in value:
        if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG:
            raise InvalidRequest(
                f"each tag must be a string of 1–{MAX_TAG} characters.",
                param="tags",
                code="invalid_value",
            )
    return list(dict.fromkeys(value))  # duplicates dropped, order kept


def _consent(value: Mapping[str, bool]) -> dict[str, bool]:
    if not isinstance(value, Mapping) or len(value) > MAX_CONSENT:
        raise InvalidRequest(
            f"consent must be an object of at most {MAX_CONSENT} true/false values.",
            param="consent",
            code="invalid_value",
        )
    for key, given in value.items():
        if not isinstance(key, str) or not key or not isinstance(given, bool):
            raise InvalidRequest(
                "consent must map each purpose to true or false.",
                param=f"consent.{key}",
                code="invalid_value",
            )
    return dict(value)


def _clean(
    *,
    email: str | None,
    phone: str | None,
    name: str | None,
    attributes: Mapping[str, Any] | None,
    tags: list[str] | None,
    consent: Mapping[str, bool] | None,
    language: str | None = None,
) -> dict[str, Any]:
    """The fields that were passed, validated and normalized; None means 'leave as it is'."""
    fields: dict[str, Any] = {}
    if language is not None:
        fields["language"] = language
    if email is not None:
        fields["email"] = _email(email)
    if phone is not None:
        fields["phone"] = _phone(phone)
    if name is not None:
        fields["name"] = _name(name)
    if attributes is not None:
        fields["attributes"] = _attributes(attributes)
    if tags is not None:
        fields["tags"] = _tags(tags)
    if consent is not None:
        fields["consent"] = _consent(consent)
    return fields


def _create(
    *, project: Project, livemode: bool, external_id: str, fields: dict[str, Any]
) -> Participant:
    code = new_referral_code()
    participant = Participant(
        project=project, livemode=livemode, external_id=external_id, referral_code=code, **fields
    )
    participant.keep_portal_token(secrets.token_urlsafe(PORTAL_TOKEN_BYTES))
    participant.save(force_insert=True)
    Link.objects.create(
        project=project,
        livemode=livemode,
        participant=participant,
        campaign=default_campaign(project=project, livemode=livemode),
        code=code,
        channel=Channel.LINK,
        is_primary=True,
    )
    return participant


def upsert_participant(
    *,
    project: Project,
    livemode: bool,
    external_id: str,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    attributes: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    consent: dict[str, bool] | None = None,
    language: str | None = None,
    lock: bool = False,
) -> tuple[Participant, bool]:
    """Create the participant known by external_id, or update the fields that were passed.

    The unique (project, livemode, external_id) constraint decides a race: the loser of
    two simultaneous creates finds the winner's row and updates it. Returns (participant,
    created); a new participant gets a referral code, a portal token and a primary link.
    With `lock`, the row stays locked for the caller's transaction (a new row is locked by
    its own insert), so the caller's decisions about this person are made one at a time.
    The e-mail and phone are remembered as identity signals by the caller, in the same
    transaction (`fraud.services.record_contacts`; the events path records them with the
    rest of an event's signals).
    """
    return _upsert(
        project=project,
        livemode=livemode,
        external_id=external_id,
        lock=lock,
        fields=_clean(
            email=email,
            phone=phone,
            name=name,
            attributes=attributes,
            tags=tags,
            consent=consent,
            language=language,
        ),
    )


def _upsert(
    *, project: Project, livemode: bool, external_id: str, lock: bool, fields: dict[str, Any]
) -> tuple[Participant, bool]:
    external_id = _external_id(external_id)
    scope = {"project": project, "livemode": livemode, "external_id": external_id}
    rows = Participant.objects.select_for_update(no_key=True) if lock else Participant.objects
    # Joins the caller's transaction when there is one (no savepoint of its own: only the
    # create below needs one, to survive losing a race).
    with transaction.atomic(savepoint=False):
        participant = rows.filter(**scope).first()
        attempts = 0
        while participant is None:
            attempts += 1
            try:
                with transaction.atomic():
                    return (
                        _create(
                            project=project,
                            livemode=livemode,
                            external_id=external_id,
                            fields=fields,
                        ),
                        True,
                    )
            except IntegrityError:
                # Either another request created this participant first, or the new
                # referral code collided with an existing one and another is tried.
                participant = rows.filter(**scope).first()
                if participant is None and attempts >= CODE_ATTEMPTS:
                    raise
        changed = [key for key, value in fields.items() if getattr(participant, key) != value]
        if changed:
            for key in changed:
                setattr(participant, key, fields[key])
            participant.save(update_fields=[*changed, "updated_at"])
        return participant, False


def locked_for_erasure(*, participant: Participant) -> Participant:
    """The participant's row, locked for the caller's transaction (the erasure's)."""
    return Participant.objects.select_for_update().get(pk=participant.pk)


def blank_personal_data(*, participant: Participant) -> None:
    """Blank a person's own data (GDPR, 152-FZ): runs inside the erasure's transaction.

    Contact details, attributes, tags, consent, the external_id and the portal token go, as
    do the user agent, referer and IP hash of clicks on their links; codes, counts and the
    primary link stay.
    """
    participant.email = ""
    participant.phone = ""
    participant.name = ""
    participant.attributes = {}
    participant.tags = []
    participant.consent = {}
    participant.tax_details_encrypted = ""
    participant.portal_token_hash = None
    participant.portal_token_encrypted = ""
    participant.external_id = f"erased-{participant.public_id}"
    participant.erased_at = timezone.now()
    participant.save()
    Click.objects.filter(participant=participant).update(user_agent="", referer="", ip_hash="")


def _channel(value: str) -> str:
    if value not in Channel.values:
        allowed = ", ".join(Channel.values)
        raise InvalidRequest(
            f"Unknown channel '{value}'; use one of: {allowed}.",
            param="channel",
            code="unknown_channel",
        )
    return value


def _utm(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest("utm must be an object.", param="utm", code="invalid_value")
    for key, given in value.items():
        if key not in UTM_KEYS:
            raise InvalidRequest(
                f"Unknown UTM parameter '{key}'; use {', '.join(UTM_KEYS)}.",
                param=f"utm.{key}",
                code="unknown_utm_parameter",
            )
        if not isinstance(given, str) or len(given) > MAX_UTM_VALUE:
            raise InvalidRequest(
                f"utm.{key} must be a string of at most {MAX_UTM_VALUE} characters.",
                param=f"utm.{key}",
                code="invalid_value",
            )
    return {key: value[key] for key in UTM_KEYS if value.get(key)}


def create_link(
    *,
    participant: Participant,
    channel: str,
    utm: dict[str, str] | None,
    campaign: Campaign | None = None,
) -> Link:
    """Give a participant another link with its own code, for one channel and UTM tags.

    Clicks on it count for the same participant; without a campaign the project's default
    campaign (at this moment) is used.
    """
    channel = _channel(channel)
    clean_utm = _utm(utm)
    if campaign is None:
        campaign = default_campaign(project=participant.project, livemode=participant.livemode)
    attempts = 0
    while True:
        attempts += 1
        try:
            with transaction.atomic():
                return Link.objects.create(
                    project=participant.project,
                    livemode=participant.livemode,
                    participant=participant,
                    campaign=campaign,
                    code=new_referral_code(),
                    channel=channel,
                    utm=clean_utm,
                )
        except IntegrityError:
            if attempts >= CODE_ATTEMPTS:
                raise
