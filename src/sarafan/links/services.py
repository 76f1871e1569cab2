"""Click recording."""

import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection
from django.utils import timezone

from sarafan.core.hashing import keyed_hash
from sarafan.core.validation import has_hidden_character

from .selectors import LinkTarget, NewClick, insert_click
from .spool import spool_click
from .traffic import MAX_USER_AGENT, bot_reason

logger = logging.getLogger("sarafan.links")

MAX_REFERER = 1000
MAX_PARAM_NAME = 64
MAX_PARAM_VALUE = 200
MAX_CLICK_IDS = 20
MAX_UTM = 10


def _is_click_id(name: str) -> bool:
    """An ad network's click id (SARAFAN_PAID_AD_PARAMS), or any `…click_id` (prm_click_id)."""
    lowered = name.lower()
    return lowered in settings.SARAFAN_PAID_AD_PARAMS or lowered.endswith("click_id")


def _tracking_params(query: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    utm: dict[str, str] = {}
    click_ids: dict[str, str] = {}
    for name, value in query.items():
        if len(name) > MAX_PARAM_NAME or not isinstance(value, str) or not value:
            continue
        if name.lower().startswith("utm_") and len(utm) < MAX_UTM:
            utm[name.lower()] = value[:MAX_PARAM_VALUE]
        elif _is_click_id(name) and len(click_ids) < MAX_CLICK_IDS:
            click_ids[name] = value[:MAX_PARAM_VALUE]
    return utm, click_ids


def record_click(
    *,
    target: LinkTarget,
    campaign_id: int | None,
    visitor_id: str,
    ip: str,
    user_agent: str,
    headers: Mapping[str, str],
    referer: str,
    query: Mapping[str, str],
) -> None:
    """Record one visit through a link, durably before returning; the IP is kept only hashed.

    UTM tags are the link's own, overridden by any in the visited URL; the parameters named
    in SARAFAN_PAID_AD_PARAMS (gclid, yclid, fbclid, …) or `…click_id` are kept as click
    ids. A bot's visit (traffic.bot_reason, from the User-Agent and the request's
    `headers`) is recorded all the same, marked as one. With SARAFAN_CLICK_WRITES =
    "spool" the click goes to this process's spool file and reaches links_click within
    SARAFAN_CLICK_FLUSH_SECONDS; with "direct", or inside a transaction (the link may not be
    committed yet, and a flush from another connection would not see it), it is one INSERT.
    """
    utm, click_ids = _tracking_params(query)
    click = NewClick(
        project_id=target.project_id,
        livemode=target.livemode,
        link_id=target.link_id,
        participant_id=target.participant_id,
        campaign_id=campaign_id,
        channel=target.channel,
        visitor_id=visitor_id[:64],
        ip_hash=keyed_hash(ip, purpose="ip") if ip else "",
        user_agent=user_agent[:MAX_USER_AGENT],
        referer=referer[:MAX_REFERER],
        utm={**target.utm, **utm},
        click_ids=click_ids,
        created_at=timezone.now(),
        bot_reason=bot_reason(user_agent, headers),
    )
    if settings.SARAFAN_CLICK_WRITES == "spool" and not connection.in_atomic_block:
        try:
            spool_click(click)
        except OSError:
            logger.exception("the click spool cannot be written; the click goes to the database")
        else:
            return
    insert_click(click)


def landing_url_for(*, landing_url: str, code: str, utm: Mapping[str, str]) -> str | None:
    """The campaign's landing URL with `ref` and the link's UTM tags in its query.

    Existing parameters stay in place; `ref` and UTM keys the link sets replace same-named
    ones. None when the stored URL is not an absolute http(s) URL, so nothing else is ever
    a redirect target.
    """
    if has_hidden_character(landing_url):
        # Stored before such URLs were refused: urlsplit would drop a TAB inside the host.
        return None
    parts = urlsplit(landing_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    overrides = {"ref": code, **utm}
    query: list[tuple[str, str]] = []
    replaced: set[str] = set()
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in overrides:
            query.append((name, value))
        elif name not in replaced:
            query.append((name, overrides[name]))
            replaced.add(name)
    query.extend((name, value) for name, value in overrides.items() if name not in replaced)
    return urlunsplit(parts._replace(query=urlencode(query)))
