"""The client's address behind trusted proxies."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def client_ip(request: HttpRequest) -> str:
    """The visitor's address: REMOTE_ADDR, or the X-Forwarded-For entry our own proxies added.

    With SARAFAN_TRUSTED_PROXY_HOPS = n, the n-th address from the right is the one the
    outermost trusted proxy saw; entries further left are the client's to invent.
    Returns "" when no valid address is known.
    """
    hops = settings.SARAFAN_TRUSTED_PROXY_HOPS
    if hops > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if forwarded:
            return _valid_ip(forwarded[max(len(forwarded) - hops, 0)])
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))
