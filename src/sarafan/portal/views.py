"""The participant's portal /p/<token>: their link, QR, share buttons, friends and rewards."""

from typing import Any
from urllib.parse import quote, urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from sarafan.core import ratelimit
from sarafan.core.addresses import client_ip
from sarafan.core.errors import SarafanError
from sarafan.core.money import money_str
from sarafan.links import qr
from sarafan.links.models import Link
from sarafan.links.schemas import referral_url
from sarafan.participants.models import Participant, portal_token_hash
from sarafan.referrals.models import Referral
from sarafan.rewards import waiting
from sarafan.rewards.models import (
    Brand,
    Certificate,
    CertificateKind,
    Reward,
    RewardStatus,
    Waiting,
)
from sarafan.rewards.sources import offered_brands, source_of

MAX_TOKEN = 64
MAX_REWARDS_SHOWN = 50
# Refused and cancelled rewards are not the participant's; everything else is shown.
HIDDEN_REWARD_STATUSES = (RewardStatus.REJECTED, RewardStatus.CANCELLED)
# While a reward has no certificate yet its recipient may still choose the brand.
CHOOSING = (RewardStatus.PENDING, RewardStatus.REVIEW, RewardStatus.APPROVED)


def share_links(url: str, text: str, subject: str) -> list[dict[str, str]]:
    """Where the share buttons go; every value is URL-encoded here, not in the template."""
    message = f"{text} {url}"
    return [
        {
            "name": "Telegram",
            "href": "https://t.me/share/url?" + urlencode({"url": url, "text": text}),
        },
        {"name": "WhatsApp", "href": "https://wa.me/?" + urlencode({"text": message})},
        {"name": "VK", "href": "https://vk.com/share.php?" + urlencode({"url": url})},
        {
            "name": gettext("E-mail"),
            "href": "mailto:?" + urlencode({"subject": subject, "body": message}, quote_via=quote),
        },
    ]


def _certificate_row(certificate: Certificate | None) -> dict[str, Any] | None:
    if certificate is None:
        return None
    brand = certificate.catalog_brand
    return {
        "code": certificate.code_value(),
        "pin": certificate.pin_value(),
        "brand": certificate.brand,
        "terms": brand.terms if brand is not None else "",
        "internal": certificate.kind == CertificateKind.INTERNAL,
        "amount": money_str(certificate.amount),
        "balance": money_str(certificate.balance),
        "currency": certificate.currency,
        "expires_at": certificate.expires_at,
        "status": certificate.get_status_display(),
    }


def _reward_rows(participant: Participant) -> list[dict[str, Any]]:
    rewards = (
        Reward.objects.filter(recipient=participant)
        .exclude(status__in=HIDDEN_REWARD_STATUSES)
        .select_related(
            "certificate__catalog_brand",
            "banked_into__certificate__catalog_brand",
            "campaign",
            "brand",
        )
        .order_by("-id")[:MAX_REWARDS_SHOWN]
    )
    rows = []
    for reward in rewards:
        certificate = reward.paying_certificate()
        waiting = reward.waiting if reward.status == RewardStatus.APPROVED else ""
        choosing = (
            certificate is None
            and reward.status in CHOOSING
            and source_of(reward.campaign).choice_days is not None
        )
        rows.append(
            {
                "id": reward.public_id,
                "amount": money_str(reward.amount),
                "currency": reward.currency,
                "status": reward.get_status_display(),
                "created_at": reward.created_at,
                "waiting": Waiting(waiting).label if waiting else "",
                "brand": reward.brand.name if reward.brand is not None else "",
                "choose_by": reward.choose_by,
                "options": offered_brands(reward) if choosing else [],
                "certificate": _certificate_row(certificate),
            }
        )
    return rows


def _not_found(request: HttpRequest) -> HttpResponse:
    response = render(
        request,
        "links/not_found.html",
        {"message": gettext("This page does not exist.")},
        status=404,
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _too_many(request: HttpRequest, verdict: ratelimit.Verdict) -> HttpResponse:
    response = render(
        request,
        "links/not_found.html",
        {"message": gettext("Too many attempts. Try again in a few minutes.")},
        status=429,
    )
    for name, value in verdict.headers().items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def _guarded_holder(request: HttpRequest, token: str) -> Participant | HttpResponse:
    """The token's holder, or the page to answer: 404 for a wrong token, 429 for a guesser.

    Wrong tokens are counted per address (SARAFAN_RATE_LIMIT_PORTAL_MISSES); past the limit
    even a right one is refused until the window ends.
    """
    address = client_ip(request) or "unknown"
    if blocked := ratelimit.PORTAL_MISSES.blocked(address):
        return _too_many(request, blocked)
    participant = _holder(token)
    if participant is not None:
        return participant
    verdict = ratelimit.PORTAL_MISSES.failed(address)
    return _not_found(request) if verdict.allowed else _too_many(request, verdict)


def _holder(token: str) -> Participant | None:
    if not 1 <= len(token) <= MAX_TOKEN:
        return None
    # Tokens are stored hashed: the token in the URL is found by its hash.
    return Participant.objects.filter(
        portal_token_hash=portal_token_hash(token), erased_at__isnull=True
    ).first()


@require_POST
def choose_brand(request: HttpRequest, token: str, reward_id: str) -> HttpResponse:
    """The recipient picks the brand of a reward's certificate from those offered."""
    participant = _guarded_holder(request, token)
    if isinstance(participant, HttpResponse):
        return participant
    reward = Reward.objects.filter(recipient=participant, public_id=reward_id).first()
    brand = Brand.objects.filter(
        project_id=participant.project_id,
        livemode=participant.livemode,
        public_id=request.POST.get("brand", ""),
    ).first()
    if reward is None or brand is None:
        return _not_found(request)
    try:
        waiting.choose_brand(reward, brand, actor="recipient")
    except SarafanError:
        return redirect(reverse("portal", args=[token]) + "?choice=failed")
    return redirect(reverse("portal", args=[token]) + "?choice=saved")


@require_safe
def portal(request: HttpRequest, token: str) -> HttpResponse:
    """Only the holder of the secret token sees the page; erased participants have none."""
    participant = _guarded_holder(request, token)
    if isinstance(participant, HttpResponse):
        return participant
    primary = (
        Link.objects.filter(participant=participant, is_primary=True)
        .select_related("campaign")
        .first()
    )
    url = referral_url(participant.referral_code)
    context = {
        "participant": participant,
        "campaign": primary.campaign if primary is not None else None,
        "referral_url": url,
        "qr_svg": mark_safe(qr.qr_svg_inline(url)),  # noqa: S308  # segno's own markup
        "qr_png_url": f"{url}/qr.png",
        "share_links": share_links(
            url,
            text=gettext("Join me and get a bonus on your first order:"),
            subject=gettext("A gift for you"),
        ),
        "friends_invited": Referral.objects.filter(referrer=participant).count(),
        "rewards": _reward_rows(participant),
        "choice": request.GET.get("choice", ""),
        "token": token,
    }
    response = render(request, "portal/portal.html", context)
    # The URL is a secret: keep it out of caches, search engines and Referer headers.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
