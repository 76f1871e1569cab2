"""E-mails about certificates: the certificate itself, a resend, and the expiry reminder.

An e-mail goes out through Django's configured mailer (SMTP in production) and every
attempt is recorded as a `Delivery`; a failed send is recorded, never raised, so a task
does not retry into a second e-mail. No SMTP round trip happens inside a transaction.

Before the round trip the delivery is claimed: its row is written as "sending", once per
reward and kind (a unique constraint holds one such row), so tasks and sweeps that try the
same e-mail at once send it once; a claim a dead worker left is taken over by the sweep of
rewards/recovery.py.
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
from django.db import IntegrityError, transaction
from django.db.models import F
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

from .errors import RewardError
from .models import (
    Certificate,
    CertificateStatus,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Reward,
    RewardStatus,
)
from .moves import move

logger = logging.getLogger("sarafan.rewards.delivery")

NOTHING_TO_SEND = RewardError.NOTHING_TO_SEND
NO_EMAIL = RewardError.NO_EMAIL
EMAIL_DISABLED = RewardError.EMAIL_DISABLED
# Roubles are written with their sign, as Russians read them; other currencies by code.
CURRENCY_SIGNS = {"RUB": "₽"}
MAX_ERROR = 500
# Sends of one delivery a dead worker may interrupt before it is failed (take_over).
MAX_ATTEMPTS = 3


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


def _refusal(parcel: Parcel) -> RewardError | None:
    """Why nothing can be e-mailed for this reward, or None."""
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
    delivery = _claim(parcel, kind=kind, actor=actor)
    if delivery is None:
        return None
    return complete(delivery, parcel)


def _claim(parcel: Parcel, *, kind: str, actor: str) -> Delivery | None:
    """Write the delivery as being sent, or None when this e-mail is being sent already
    (or, for the certificate, was sent): the caller then sends nothing.

    The reward's row lock orders the claims of one reward (on SQLite every transaction takes
    the write lock); the unique constraint on sending rows is the database's guarantee.
    """
    reward = parcel.reward
    taken = [DeliveryStatus.SENDING]
    if kind == DeliveryKind.CERTIFICATE:
        taken.append(DeliveryStatus.SENT)
    same = Delivery.objects.filter(
        project_id=reward.project_id, livemode=reward.livemode, reward=reward, kind=kind
    )
    try:
        with transaction.atomic():
            status = (
                Reward.objects.select_for_update(no_key=True)
                .filter(pk=reward.pk)
                .values_list("status", flat=True)
                .first()
            )
            if status is None or (
                kind == DeliveryKind.CERTIFICATE and status == RewardStatus.DELIVERED
            ):
                return None
            if same.filter(status__in=taken).exists():
                return None
            delivery = _unsent(parcel, kind=kind, actor=actor)
            delivery.save(force_insert=True)
            return delivery
    except IntegrityError:
        if same.filter(status=DeliveryStatus.SENDING).exists():
            return None  # claimed by another process between the check and the insert
        raise


def _unsent(parcel: Parcel, *, kind: str, actor: str) -> Delivery:
    return Delivery(
        project_id=parcel.reward.project_id,
        livemode=parcel.reward.livemode,
        reward=parcel.reward,
        kind=kind,
        to=parcel.recipient.email,
        language=_language(parcel.recipient),
        status=DeliveryStatus.SENDING,
        actor=actor,
        claimed_at=timezone.now(),
    )


def claim_resend(reward: Reward, *, actor: str) -> tuple[Delivery, bool]:
    """Claim the certificate e-mail again on request (console, API), even if it was delivered;
    the worker sends it (send_claimed), so no SMTP round trip holds a web request.

    Returns the delivery and whether the caller is to have it sent: while this reward's
    e-mail is being sent already, that one is returned and nothing more goes out, unless its
    sender died (claimed longer than SARAFAN_DELIVERY_GRACE_SECONDS ago): then it is sent
    now. Raises Conflict when it cannot be sent. A claim whose task is lost (the process
    died before enqueueing it) is sent by the recovery sweep, as any interrupted one.
    """
    parcel = _parcel(reward.pk)
    refusal = _refusal(parcel)
    if refusal is not None:
        raise Conflict(refusal)
    delivery = _unsent(parcel, kind=DeliveryKind.CERTIFICATE, actor=actor)
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
    except IntegrityError:
        sending = Delivery.objects.filter(
            project_id=reward.project_id,
            livemode=reward.livemode,
            reward=reward,
            kind=DeliveryKind.CERTIFICATE,
            status=DeliveryStatus.SENDING,
        ).first()
        if sending is None:
            raise
        grace = timedelta(seconds=settings.SARAFAN_DELIVERY_GRACE_SECONDS)
        return (
            sending,
            sending.claimed_at is not None and sending.claimed_at < timezone.now() - grace,
        )
    return delivery, True


def send_claimed(pk: int) -> Delivery | None:
    """Send a claimed resend once; None when it is not waiting any more (sent, or taken over).

    The claim passes with a conditional UPDATE of `claimed_at`, as take_over's does, so a
    task run twice or racing the sweep sends one e-mail.
    """
    delivery = Delivery.objects.filter(pk=pk, status=DeliveryStatus.SENDING).first()
    if delivery is None:
        return None
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.SARAFAN_DELIVERY_GRACE_SECONDS)
    if delivery.claimed_at is not None and delivery.claimed_at < cutoff:
        # Its sender died: taken over as the sweep would (attempts counted, MAX_ATTEMPTS).
        take_over(pk, now=now, claimed_before=cutoff)
        return Delivery.objects.get(pk=pk)
    claim = Delivery.objects.filter(
        pk=pk, status=DeliveryStatus.SENDING, claimed_at=delivery.claimed_at
    )
    if not claim.update(claimed_at=now):
        return None
    delivery.claimed_at = now
    parcel = _parcel(delivery.reward_id)
    refusal = _refusal(parcel)
    if refusal is not None:  # changed while it waited: erased, turned off, cancelled
        delivery.status, delivery.error = DeliveryStatus.FAILED, refusal.english
        delivery.save(update_fields=["status", "error"])
        return delivery
    delivery.to = parcel.recipient.email
    return complete(delivery, parcel)


def send_expiry_reminders(*, now: datetime | None = None, days: int | None = None) -> int:
    """Remind holders once of unspent certificates expiring within `days`; returns how many.

    Every project is swept. A certificate is claimed by a conditional UPDATE of its
    `reminded_at` before the e-mail, so two workers never both send; a failed send
    releases the claim and the next sweep tries again. One that cannot be handled is
    logged and skipped.
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
        try:
            sent += _remind(certificate_id, reward_id, now=now)
        except Exception:
            logger.exception("could not remind the holder of certificate %s", certificate_id)
    return sent


def _remind(certificate_id: int, reward_id: int, *, now: datetime) -> bool:
    with transaction.atomic():
        claimed = Certificate.objects.filter(pk=certificate_id, reminded_at__isnull=True).update(
            reminded_at=now
        )
        if not claimed:
            return False
        parcel = _parcel(reward_id)
        if _refusal(parcel):
            return False
        delivery = _unsent(parcel, kind=DeliveryKind.REMINDER, actor="system")
        delivery.save(force_insert=True)
    complete(delivery, parcel)
    return delivery.status == DeliveryStatus.SENT


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
    mark_secrets(message, context["code"], context["pin"], recipient.portal_token_value())
    return message


def _error_text(exc: Exception, parcel: Parcel) -> str:
    """The failure as recorded and logged: no code, no PIN, the address masked."""
    assert parcel.certificate is not None
    secrets = (
        parcel.certificate.code_value(),
        parcel.certificate.pin_value(),
        parcel.recipient.portal_token_value(),
    )
    text = mask_secrets(f"{type(exc).__name__}: {exc}", secrets)
    address = parcel.recipient.email
    return text.replace(address, mask_email(address))[:MAX_ERROR]


def complete(delivery: Delivery, parcel: Parcel) -> Delivery:
    """Send a claimed delivery's e-mail and record how it went;
    mark an issued reward delivered on success.

    A failed send is recorded and released: a reminder's certificate may be reminded again.
    """
    assert parcel.certificate is not None
    error = ""
    try:
        _render(parcel, delivery.kind, delivery.language).send()
    # Any mailer's failure (refused connection, timeout, a rejected recipient) is recorded,
    # not raised: the reward is issued either way, and the console can resend.
    except Exception as exc:
        try:
            error = _error_text(exc, parcel)
        except Exception:
            # The code or PIN cannot be read (its encryption key is gone): what failed is
            # all that is recorded, and the claim does not stay behind.
            error = type(exc).__name__
        logger.warning(
            "%s e-mail for %s to %s failed: %s",
            delivery.kind,
            parcel.reward.public_id,
            mask_email(parcel.recipient.email),
            error,
        )
    with transaction.atomic():
        if not error and delivery.kind == DeliveryKind.CERTIFICATE:
            _mark_delivered(parcel, actor=delivery.actor)
        delivery.status = DeliveryStatus.FAILED if error else DeliveryStatus.SENT
        delivery.error = error
        if delivery.pk is None:
            delivery.save(force_insert=True)
        else:
            delivery.save(update_fields=["to", "language", "status", "error", "attempts"])
        if error and delivery.kind == DeliveryKind.REMINDER:
            Certificate.objects.filter(pk=parcel.certificate.pk).update(reminded_at=None)
    return delivery


def take_over(pk: int, *, now: datetime, claimed_before: datetime) -> bool:
    """Send again a delivery claimed before `claimed_before` and never finished (its worker
    died); True when it went out.

    The claim passes with a conditional UPDATE of `claimed_at`, so of two sweeps one sends.
    After MAX_ATTEMPTS the delivery is failed instead: an e-mail that stops its worker every
    time must not stop it for ever.
    """
    delivery = Delivery.objects.filter(
        pk=pk, status=DeliveryStatus.SENDING, claimed_at__lt=claimed_before
    ).first()
    if delivery is None:
        return False
    claim = Delivery.objects.filter(
        pk=pk, status=DeliveryStatus.SENDING, claimed_at=delivery.claimed_at
    )
    if delivery.attempts >= MAX_ATTEMPTS:
        claim.update(
            status=DeliveryStatus.FAILED,
            error=f"Interrupted {delivery.attempts} times (the worker stopped while sending).",
        )
        return False
    if not claim.update(claimed_at=now, attempts=F("attempts") + 1):
        return False  # another sweep took it over first
    delivery.claimed_at, delivery.attempts = now, delivery.attempts + 1
    parcel = _parcel(delivery.reward_id)
    refusal: str | None = _refusal(parcel)
    if refusal is None and delivery.kind == DeliveryKind.CERTIFICATE:
        refusal = _already_sent(parcel.reward, delivery)
    if refusal is not None:
        Delivery.objects.filter(pk=pk).update(
            status=DeliveryStatus.FAILED,
            error=f"Interrupted (the worker stopped while sending); not sent again: {refusal}.",
        )
        return False
    delivery.to = parcel.recipient.email
    return complete(delivery, parcel).status == DeliveryStatus.SENT


def _already_sent(reward: Reward, delivery: Delivery) -> str | None:
    """Why an interrupted certificate e-mail need not go again: it was resent meanwhile."""
    if reward.status == RewardStatus.DELIVERED or (
        Delivery.objects.filter(
            project_id=reward.project_id,
            livemode=reward.livemode,
            reward=reward,
            kind=DeliveryKind.CERTIFICATE,
            status=DeliveryStatus.SENT,
        )
        .exclude(pk=delivery.pk)
        .exists()
    ):
        return "already_sent"
    return None


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
