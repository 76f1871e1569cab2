"""Public URLs of a link and its API representation."""

from typing import Any, Literal

from django.conf import settings

from sarafan.core.schemas import Out, Timestamp, UrlStr

from .models import Channel, Link


def referral_url(code: str) -> str:
    """The absolute /r/<code> address that is shared."""
    return f"{settings.BASE_URL}/r/{code}"


def qr_url(code: str, *, kind: str = "svg") -> str:
    return f"{settings.BASE_URL}/r/{code}/qr.{kind}"


class LinkOut(Out):
    id: str
    object: Literal["link"]
    livemode: bool
    code: str
    url: UrlStr
    qr_url: UrlStr
    channel: Channel
    utm: dict[str, str]
    is_primary: bool
    campaign: str | None
    created_at: Timestamp


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
