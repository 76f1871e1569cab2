"""The participant's portal /p/<token>: their link, QR, share buttons, friends and rewards."""

from typing import Any
from urllib.parse import quote, urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_safe

from sarafan.core.money import money_str
from sarafan.participants.models import Participant
from sarafan.referrals.models import Referral
from sarafan.rewards.models import Reward, RewardStatus

from . import qr
from .models import Link
from .schemas import referral_url

MAX_TOKEN = 64
MAX_REWARDS_SHOWN = 50
# Refused and cancelled rewards are not the participant's; everything else is shown.
HIDDEN_REWARD_STATUSES = (RewardStatus.REJECTED, RewardStatus.CANCELLED)


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


def _reward_rows(participant: Participant) -> list[dict[str, Any]]:
    rewards = (
        Reward.objects.filter(recipient=participant)
        .exclude(status__in=HIDDEN_REWARD_STATUSES)
        .select_related("certificate")
        .order_by("-id")[:MAX_REWARDS_SHOWN]
    )
    rows = []
    for reward in rewards:
        certificate = getattr(reward, "certificate", None)
        rows.append(
            {
                "amount": money_str(reward.amount),
                "currency": reward.currency,
                "status": reward.get_status_display(),
                "created_at": reward.created_at,
                "certificate": None
                if certificate is None
                else {
                    "code": certificate.code,
                    "pin": certificate.pin,
                    "balance": money_str(certificate.balance),
                    "currency": certificate.currency,
                    "expires_at": certificate.expires_at,
                    "status": certificate.get_status_display(),
                },
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


@require_safe
def portal(request: HttpRequest, token: str) -> HttpResponse:
    """Only the holder of the secret token sees the page; erased participants have none."""
    if not 1 <= len(token) <= MAX_TOKEN:
        return _not_found(request)
    participant = Participant.objects.filter(portal_token=token, erased_at__isnull=True).first()
    if participant is None:
        return _not_found(request)
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
    }
    response = render(request, "links/portal.html", context)
    # The URL is a secret: keep it out of caches, search engines and Referer headers.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
