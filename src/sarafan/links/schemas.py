"""Public URLs of a link and its API representation."""

from typing import Any

from django.conf import settings

from .models import Link


def referral_url(code: str) -> str:
    """The absolute /r/<code> address that is shared."""
    return f"{settings.BASE_URL}/r/{code}"


def qr_url(code: str, *, kind: str = "svg") -> str:
    return f"{settings.BASE_URL}/r/{code}/qr.{kind}"


def link_out(link: Link) -> dict[str, Any]:
    campaign = link.campaign
    return {
        "id": link.public_id,
        "object": "link",
        "livemode": link.livemode,
        "code": link.code,
        "url": referral_url(link.code),
        "qr_url": qr_url(link.code),
        "channel": link.channel,
        "utm": link.utm,
        "is_primary": link.is_primary,
        "campaign": campaign.public_id if campaign is not None else None,
        "created_at": link.created_at.isoformat(),
    }
