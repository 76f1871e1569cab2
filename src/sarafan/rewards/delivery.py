"""E-mails about certificates: the certificate itself, a resend, and the expiry reminder.

An e-mail goes out through Django's configured mailer (SMTP in production) and every
attempt is recorded as a `Delivery`; a failed send is recorded, never raised, so a task
does not retry into a second e-mail. No SMTP round trip happens inside a transaction.
"""

import email.message
import email.policy
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.headerregistry import Address
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation

from sarafan.core.errors import Conflict
from sarafan.core.logging import mask_secrets
from sarafan.core.mail import mark_secrets
from sarafan.core.validation import CONTROLS
from sarafan.links.qr import qr_png
from sarafan.participants.models import Participant
from sarafan.participants.schemas import portal_url
from sarafan.projects.models import Project

from .models import (
    Certificate,
    CertificateStatus,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Reward,
    RewardStatus,
)
from .services import move

logger = logging.getLogger("sarafan.rewards.delivery")

NOTHING_TO_SEND = "nothing_to_send"
NO_EMAIL = "no_email"
EMAIL_DISABLED = "email_disabled"
# Roubles are written with their sign, as Russians read them; other currencies by code.
CURRENCY_SIGNS = {"RUB": "₽"}
MAX_ERROR = 500
_REFUSALS = {
    NOTHING_TO_SEND: "The reward has no active, unexpired certificate to send.",
    NO_EMAIL: "The recipient has no e-mail address.",
    EMAIL_DISABLED: "E-mailing certificates is turned off for this project.",
}


def mask_email(address: str) -> str:
    """The address as history and logs show it: the first letter and the domain."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


@dataclass(frozen=True)
class Parcel:
    """What one e-mail is about: a reward, the certificate paying it, its recipient and project."""

    reward: Reward
    certificate: Certificate | None
    recipient: Participant
    project: Project


def _parcel(reward_id: int) -> Parcel:
    """Load a reward with its certificate, or the certificate of the bank reward that pays it."""
    reward = Reward.objects.select_related("recipient", "project").get(pk=reward_id)
    certificate = (
        Certificate.objects.select_related("catalog_brand")
        .filter(
            project_id=reward.project_id,
            livemode=reward.livemode,
            reward_id=reward.banked_into_id or reward.pk,
        )
        .first()
    )
    return Parcel(reward, certificate, reward.recipient, reward.project)


def _refusal(parcel: Parcel) -> str | None:
    """Why nothing can be e-mailed for this reward (a code of _REFUSALS), or None."""
    if not parcel.project.email_rewards:
        return EMAIL_DISABLED
    if not parcel.recipient.email or parcel.recipient.erased_at is not None:
        return NO_EMAIL
    certificate = parcel.certificate
    if (
        certificate is None
        or certificate.status != CertificateStatus.ACTIVE
        or certificate.expires_at <= timezone.now()
    ):
        return NOTHING_TO_SEND
    return None


def deliver(reward_id: int, *, kind: str = "certificate", actor: str = "system") -> Delivery | None:
    """E-mail a reward's certificate (or an expiry reminder) when there is one to send.

    Returns None, recording nothing, when there is nothing to send; a certificate already
    e-mailed is not e-mailed again (a retried task sends once; `resend` is the explicit way).
    """
    if kind not in DeliveryKind.values:
        raise ValueError(f"Unknown delivery kind {kind!r}.")
    parcel = _parcel(reward_id)
    if _refusal(parcel) is not None:
        return None
    if kind == DeliveryKind.CERTIFICATE and (
        parcel.reward.status == RewardStatus.DELIVERED
        or Delivery.objects.filter(
            project_id=parcel.reward.project_id,
            livemode=parcel.reward.livemode,
            reward=parcel.reward,
            kind=DeliveryKind.CERTIFICATE,
            status=DeliveryStatus.SENT,
        ).exists()
    ):
        return None
    return _send(parcel, kind=kind, actor=actor)


def resend(reward: Reward, *, actor: str) -> Delivery:
    """E-mail the certificate again on request (console, API), even if it was delivered.

    Raises Conflict when it cannot be sent; a failed send is returned as a failed Delivery.
    """
    parcel = _parcel(reward.pk)
    refusal = _refusal(parcel)
    if refusal is not None:
        raise Conflict(_REFUSALS[refusal], code=refusal)
    return _send(parcel, kind=DeliveryKind.CERTIFICATE, actor=actor)


def send_expiry_reminders(*, now: datetime | None = None, days: int | None = None) -> int:
    """Remind holders once of unspent certificates expiring within `days`; returns how many.

    Every project is swept. A certificate is claimed by a conditional UPDATE of its
    `reminded_at` before the e-mail, so two workers never both send; a failed send
    releases the claim and the next sweep tries again.
    """
    now = now or timezone.now()
    if days is None:
        days = settings.SARAFAN_EXPIRY_REMINDER_DAYS
    due = (
        Certificate.objects.filter(
            status=CertificateStatus.ACTIVE,
            balance__gt=0,
            reminded_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
            reward__isnull=False,
            project__email_rewards=True,
            reward__recipient__erased_at__isnull=True,
        )
        .exclude(reward__recipient__email="")
        .order_by("expires_at", "pk")
        .values_list("pk", "reward_id")
    )
    sent = 0
    for certificate_id, reward_id in list(due):
        claimed = Certificate.objects.filter(pk=certificate_id, reminded_at__isnull=True).update(
            reminded_at=now
        )
        if not claimed:
            continue
        parcel = _parcel(reward_id)
        delivery = None if _refusal(parcel) else _send(parcel, kind=DeliveryKind.REMINDER)
        if delivery is not None and delivery.status == DeliveryStatus.SENT:
            sent += 1
        elif delivery is not None:
            Certificate.objects.filter(pk=certificate_id, reminded_at=now).update(reminded_at=None)
    return sent


def _language(participant: Participant) -> str:
    try:
        return translation.get_supported_language_variant(participant.language)
    except LookupError:
        return str(settings.LANGUAGE_CODE)


def money_display(amount: Decimal, currency: str) -> str:
    """An amount as people read it in the active language: "1 500 ₽", "12.50 USD"."""
    places = 0 if amount == amount.to_integral_value() else 2
    number = formats.number_format(amount, decimal_pos=places, force_grouping=True)
    return f"{number} {CURRENCY_SIGNS.get(currency, currency)}"


def _context(parcel: Parcel, language: str) -> dict[str, Any]:
    """What the templates show; call under the recipient's language (numbers and dates)."""
    certificate = parcel.certificate
    assert certificate is not None
    brand = certificate.catalog_brand
    expires = timezone.localtime(certificate.expires_at)
    return {
        "language": language,
        "project": parcel.project.name,
        "name": parcel.recipient.name,
        "brand": (brand.name if brand else certificate.brand) or parcel.project.name,
        "logo_url": brand.logo_url if brand else "",
        "terms": brand.terms if brand else "",
        "nominal": money_display(certificate.amount, certificate.currency),
        "balance": money_display(certificate.balance, certificate.currency),
        "code": certificate.code_value(),
        "pin": certificate.pin_value(),
        "expires": formats.date_format(expires, "DATE_FORMAT"),
        "portal_url": portal_url(parcel.recipient) or "",
        "qr_cid": f"{certificate.public_id}.qr@sarafan",
    }


class CertificateEmail(EmailMultiAlternatives):
    """Text and HTML alternatives; the HTML's QR image travels beside it (multipart/related)."""

    def __init__(self, *, qr: bytes, qr_cid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.qr = qr
        self.qr_cid = qr_cid

    def message(self, *, policy: Any = email.policy.default) -> email.message.EmailMessage:
        message = super().message(policy=policy)
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        html.add_related(
            self.qr,
            maintype="image",
            subtype="png",
            cid=f"<{self.qr_cid}>",
            disposition="inline",
            filename="qr.png",
        )
        return message


# A run of controls, with the spaces around it: "Анна\r\n\tX" becomes "Анна X".
_HEADER_BREAKS = re.compile(f" *{CONTROLS.pattern}+ *")


def header_text(text: str) -> str:
    """Text as one header line: a line break or another control in a stored name (older
    data; the API refuses them now) would end the header early, and the mailer refuses it."""
    return _HEADER_BREAKS.sub(" ", text).strip()


def _render(parcel: Parcel, kind: str, language: str) -> CertificateEmail:
    recipient = parcel.recipient
    with translation.override(language):
        context = _context(parcel, language)
        subject = render_to_string(f"rewards/email/{kind}_subject.txt", context)
        text = render_to_string(f"rewards/email/{kind}.txt", context)
        html = render_to_string(f"rewards/email/{kind}.html", {**context, "subject": subject})
    message = CertificateEmail(
        qr=qr_png(context["code"]),
        qr_cid=context["qr_cid"],
        subject=header_text(subject),
        body=text,
        from_email=header_text(parcel.project.email_from or settings.DEFAULT_FROM_EMAIL),
        to=[str(Address(display_name=header_text(recipient.name), addr_spec=recipient.email))],
        headers={"Auto-Submitted": "auto-generated", "Content-Language": language},
    )
    message.attach_alternative(html, "text/html")
    # What spends the certificate or opens the holder's portal: never in a development log.
    mark_secrets(message, context["code"], context["pin"], recipient.portal_token)
    return message


def _error_text(exc: Exception, parcel: Parcel) -> str:
    """The failure as recorded and logged: no code, no PIN, the address masked."""
    assert parcel.certificate is not None
    secrets = (
        parcel.certificate.code_value(),
        parcel.certificate.pin_value(),
        parcel.recipient.portal_token,
    )
    text = mask_secrets(f"{type(exc).__name__}: {exc}", secrets)
    address = parcel.recipient.email
    return text.replace(address, mask_email(address))[:MAX_ERROR]


def _send(parcel: Parcel, *, kind: str, actor: str = "system") -> Delivery:
    """Send one e-mail, record it, and mark an issued reward delivered on success."""
    assert parcel.certificate is not None
    language = _language(parcel.recipient)
    message = _render(parcel, kind, language)
    error = ""
    try:
        message.send()
    # Any mailer's failure (refused connection, timeout, a rejected recipient) is recorded,
    # not raised: the reward is issued either way, and the console can resend.
    except Exception as exc:
        error = _error_text(exc, parcel)
        logger.warning(
            "%s e-mail for %s to %s failed: %s",
            kind,
            parcel.reward.public_id,
            mask_email(parcel.recipient.email),
            error,
        )
    with transaction.atomic():
        if not error and kind == DeliveryKind.CERTIFICATE:
            _mark_delivered(parcel, actor=actor)
        return Delivery.objects.create(
            project_id=parcel.reward.project_id,
            livemode=parcel.reward.livemode,
            reward=parcel.reward,
            kind=kind,
            to=parcel.recipient.email,
            language=language,
            status=DeliveryStatus.FAILED if error else DeliveryStatus.SENT,
            error=error,
            actor=actor,
        )


def _mark_delivered(parcel: Parcel, *, actor: str) -> None:
    reward = Reward.objects.select_for_update(no_key=True).get(pk=parcel.reward.pk)
    if reward.status == RewardStatus.ISSUED:
        move(
            reward,
            RewardStatus.DELIVERED,
            actor=actor,
            note=f"e-mailed to {mask_email(parcel.recipient.email)}",
        )
        parcel.reward.status = reward.status
