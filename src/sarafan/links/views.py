"""The referral redirect /r/<code> and the link's QR codes."""

import re
import secrets
import time
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.encoding import iri_to_uri
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from sarafan.campaigns.selectors import default_campaign
from sarafan.core.addresses import client_ip
from sarafan.core.codes import normalize_code
from sarafan.projects.models import Project

from . import qr
from .models import Link
from .schemas import referral_url
from .selectors import LINK_CACHE_SIZE, LinkTarget, cached_link_target, link_target
from .services import landing_url_for, record_click

VISITOR_COOKIE = "sf_vid"
VISITOR_ID_BYTES = 16
# Codes are short upper-case words; anything else cannot be a code and needs no lookup.
_CODE = re.compile(r"^[A-Z0-9_-]{1,16}$")
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
QR_CACHE_SECONDS = 86400
_expires: tuple[float, str] = (0.0, "")


def not_found_page(request: HttpRequest, message: str) -> HttpResponse:
    """A plain, translated HTML 404: people follow these links, not programs."""
    response = render(request, "links/not_found.html", {"message": message}, status=404)
    response["Cache-Control"] = "no-store"
    return response


def _code(raw: str) -> str | None:
    code = normalize_code(raw)
    return code if _CODE.match(code) else None


def _visitor_id(request: HttpRequest) -> tuple[str, bool]:
    """The visitor id from the sf_vid cookie when well-formed, else a new one (and True)."""
    existing = request.COOKIES.get(VISITOR_COOKIE, "")
    if _VISITOR_ID.match(existing):
        return existing, False
    return secrets.token_urlsafe(VISITOR_ID_BYTES), True


@lru_cache(maxsize=LINK_CACHE_SIZE)
def _location(landing_url: str, code: str, utm: tuple[tuple[str, str], ...]) -> str | None:
    """The Location of a link's redirect: a pure function of its inputs, so remembered."""
    target = landing_url_for(landing_url=landing_url, code=code, utm=dict(utm))
    return iri_to_uri(target) if target is not None else None


def _cookie_expiry() -> tuple[int, str]:
    """The visitor cookie's Max-Age and Expires; the date string changes once a second."""
    global _expires
    max_age = settings.SARAFAN_VISITOR_COOKIE_DAYS * 86400
    at = time.time() // 1 + max_age
    expires = _expires
    if expires[0] != at:
        expires = _expires = (at, http_date(at))
    return max_age, expires[1]


def _serve(request: HttpRequest, link: LinkTarget) -> HttpResponse | None:
    """The 302 to the link's landing URL, its click recorded; None if its program is inactive."""
    campaign_id, landing = link.campaign_id, link.landing_url
    if landing is None:  # the link's campaign is gone: the project's default one serves
        project = Project(pk=link.project_id)
        fallback = default_campaign(project=project, livemode=link.livemode)
        campaign_id, landing = (fallback.pk, fallback.landing_url) if fallback else (None, None)
    location = _location(landing, link.code, tuple(link.utm.items())) if landing else None
    if location is None:
        return None
    visitor_id, is_new_visitor = _visitor_id(request)
    if request.method == "GET":  # HEAD is a probe, not a visit
        meta = request.META
        record_click(
            target=link,
            campaign_id=campaign_id,
            visitor_id=visitor_id,
            ip=client_ip(request),
            user_agent=meta.get("HTTP_USER_AGENT", ""),
            # The one header bot_reason reads besides the User-Agent; request.headers would
            # first copy every header of the request, at about 20 µs.
            headers={"Sec-CH-UA": meta.get("HTTP_SEC_CH_UA", "")},
            referer=meta.get("HTTP_REFERER", ""),
            query=request.GET.dict(),
        )
    # landing_url_for admits only absolute http(s) URLs, which is what HttpResponseRedirect
    # would check again, at a cost this path notices.
    response = HttpResponse(status=302)
    response["Location"] = location
    response["Cache-Control"] = "no-store"
    if is_new_visitor:
        max_age, expires = _cookie_expiry()
        response.set_cookie(
            VISITOR_COOKIE,
            visitor_id,
            max_age=max_age,
            expires=expires,
            samesite="Lax",
            secure=settings.HTTPS,
            httponly=False,  # the widget on the landing page reads it
        )
    return response


@require_safe
def redirect(request: HttpRequest, code: str) -> HttpResponse:
    """Record the click and send the visitor to the campaign's landing URL, never elsewhere."""
    normalized = _code(code)
    link = link_target(normalized) if normalized else None
    if link is None:
        return not_found_page(request, _("This referral link does not exist."))
    response = _serve(request, link)
    if response is None:
        return not_found_page(request, _("This referral program is not active."))
    return response


def redirect_known_link(request: HttpRequest, code: str) -> HttpResponse | None:
    """The redirect of a link this process remembers with its landing URL, without a query.

    None for anything else (an unknown or uncached code, a campaign gone, an inactive
    program): the redirect view then answers as usual.
    """
    normalized = _code(code)
    link = cached_link_target(normalized) if normalized else None
    if link is None or link.landing_url is None:
        return None
    return _serve(request, link)


def _qr_response(request: HttpRequest, code: str, kind: str) -> HttpResponse:
    normalized = _code(code)
    stored = (
        Link.objects.filter(code=normalized).values_list("code", flat=True).first()
        if normalized
        else None
    )
    if stored is None:
        return not_found_page(request, _("This referral link does not exist."))
    url = referral_url(stored)
    if kind == "svg":
        response = HttpResponse(qr.qr_svg(url), content_type="image/svg+xml")
    else:
        response = HttpResponse(qr.qr_png(url), content_type="image/png")
    response["Cache-Control"] = f"public, max-age={QR_CACHE_SECONDS}"
    return response


@require_safe
def qr_svg(request: HttpRequest, code: str) -> HttpResponse:
    return _qr_response(request, code, "svg")


@require_safe
def qr_png(request: HttpRequest, code: str) -> HttpResponse:
    return _qr_response(request, code, "png")
