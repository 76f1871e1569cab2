"""A campaign's anti-fraud settings as the checks read them."""

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings

from sarafan.campaigns.models import Campaign
from sarafan.campaigns.schemas import FraudIn
from sarafan.core.schemas import STORED

_ATTR = "_sarafan_fraud_settings"


def fraud_settings(campaign: Campaign) -> FraudIn:
    """The campaign's settings with defaults filled in, parsed once per campaign object.

    Campaign objects live in the per-process terms cache until the campaign changes, so
    the parse is paid once per change, not once per event.
    """
    cached: FraudIn | None = campaign.__dict__.get(_ATTR)
    if cached is None:
        cached = FraudIn.model_validate(campaign.fraud or {}, context=STORED)
        campaign.__dict__[_ATTR] = cached
    return cached


def paid_ad_params(campaign: Campaign) -> frozenset[str]:
    chosen = fraud_settings(campaign).paid_ad_params
    names = chosen if chosen is not None else getattr(settings, "SARAFAN_PAID_AD_PARAMS", ())
    return frozenset(name.lower() for name in names)


def referer_host(referer: str) -> str:
    try:
        host = urlsplit(referer).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


def banned_referrer(campaign: Campaign, referer: str) -> str:
    """The banned domain the referer belongs to (itself or a parent), or ""."""
    banned = fraud_settings(campaign).banned_referrer_domains
    host = referer_host(referer)
    if not banned or not host:
        return ""
    for domain in banned:
        if host == domain or host.endswith("." + domain):
            return domain
    return ""


# Stop-rules and block lists are read by every referred event; each process keeps a
# project's lists for SARAFAN_FRAUD_RULES_CACHE_SECONDS. A change made in this process is
# seen at once (the models' save and delete clear the entry), other processes see it
# within those seconds.
_LISTS: dict[tuple[str, int, bool], tuple[float, list[object]]] = {}


def cached_list[T](
    name: str, project_id: int, livemode: bool, load: Callable[[], list[T]]
) -> list[T]:
    key = (name, project_id, livemode)
    now = time.monotonic()
    hit = _LISTS.get(key)
    if hit is not None and now - hit[0] < settings.SARAFAN_FRAUD_RULES_CACHE_SECONDS:
        return hit[1]  # type: ignore[return-value]
    value = load()
    _LISTS[key] = (now, value)  # type: ignore[assignment]
    return value


def forget_all_lists() -> None:
    _LISTS.clear()


def forget_lists(project_id: int, livemode: bool) -> None:
    for key in [key for key in _LISTS if key[1:] == (project_id, livemode)]:
        _LISTS.pop(key, None)
