"""The referral redirect /r/<code> and the link's QR codes."""

import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from sarafan.campaigns.selectors import default_campaign
from sarafan.core.codes import normalize_code
from sarafan.projects.models import Project

from . import qr
from .models import Link
from .portal import portal
from .schemas import referral_url
from .selectors import link_target
from .services import client_ip, landing_url_for, record_click

__all__ = ["portal", "qr_png", "qr_svg", "redirect"]

VISITOR_COOKIE = "sf_vid"
VISITOR_ID_BYTES = 16
# Codes are short upper-case words; anything else cannot be a code and needs no lookup.
_CODE = re.compile(r"^[A-Z0-9_-]{1,16}$")
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
QR_CACHE_SECONDS = 86400


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


@require_safe
def redirect(request: HttpRequest, code: str) -> HttpResponse:
    """Record the click and send the visitor to the campaign's landing URL, never elsewhere."""
    normalized = _code(code)
    link = link_target(normalized) if normalized else None
    if link is None:
        return not_found_page(request, _("This referral link does not exist."))
    campaign_id, landing = link.campaign_id, link.landing_url
    if landing is None:  # the link's campaign is gone: the project's default one serves
        project = Project(pk=link.project_id)
        fallback = default_campaign(project=project, livemode=link.livemode)
        campaign_id, landing = (fallback.pk, fallback.landing_url) if fallback else (None, None)
    target = landing_url_for(landing_url=landing, code=link.code, utm=link.utm) if landing else None
    if target is None:
        return not_found_page(request, _("This referral program is not active."))
    visitor_id, is_new_visitor = _visitor_id(request)
    if request.method == "GET":  # HEAD is a probe, not a visit
        record_click(
            target=link,
            campaign_id=campaign_id,
            visitor_id=visitor_id,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            referer=request.headers.get("Referer", ""),
            query=request.GET.dict(),
        )
    response = HttpResponseRedirect(target)
    response["Cache-Control"] = "no-store"
    if is_new_visitor:
        response.set_cookie(
            VISITOR_COOKIE,
            visitor_id,
            max_age=timedelta(days=settings.SARAFAN_VISITOR_COOKIE_DAYS),
            samesite="Lax",
            secure=settings.HTTPS,
            httponly=False,  # the widget on the landing page reads it
        )
    return response


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
