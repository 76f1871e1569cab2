"""External certificate issuers: the settings of a provider's API, checked before saving.

A project's issuer is a provider's HTTP API (its contract is in the README, "External
issuers"), called by issuer_client.py. Its URL may not point at a local or private address
(core/outbound.py), its token is kept encrypted, and changing either closes its circuit
(core/circuit.py), whose state the console and the API show.
"""

import math
from typing import Any
from urllib.parse import urlsplit

from sarafan.core import outbound
from sarafan.core.circuit import CircuitState, circuit_state
from sarafan.core.crypto import DecryptionFailed, encrypt
from sarafan.core.errors import InvalidRequest
from sarafan.core.validation import refuse_control_characters
from sarafan.projects.models import Project

from .errors import RewardError
from .models import Brand, Issuer

__all__ = [
    "CircuitState",
    "call_timeout",
    "circuit_state",
    "create_issuer",
    "current_token",
    "update_issuer",
]

MAX_TOKEN_LENGTH = 2000
MIN_TIMEOUT_SECONDS = 0.5


def _name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidRequest("An issuer needs a name of 1 to 200 characters.", param="name")
    return name


def _url(value: str) -> str:
    refuse_control_characters(value, param="url")
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in url)
        or len(url) > 500
    ):
        raise InvalidRequest(
            "url must be the provider's http(s) API address, at most 500 characters.",
            param="url",
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest(
            "Put the credentials in token (kept encrypted), not in the url.", param="url"
        )
    if parts.query or parts.fragment:
        raise InvalidRequest("url cannot have a query or a fragment.", param="url")
    try:
        outbound.check_url(url)
    except outbound.AddressNotAllowed:
        raise InvalidRequest(
            "url is on a local or private network, which Sarafan does not call "
            "(SARAFAN_OUTBOUND_ALLOW_HOSTS lists the host names allowed there).",
            code=RewardError.ADDRESS_NOT_ALLOWED,
            param="url",
        ) from None
    return url


def _token(value: str | None) -> str:
    token = (value or "").strip()
    if len(token) > MAX_TOKEN_LENGTH or not all("!" <= char <= "~" for char in token):
        raise InvalidRequest(
            f"token must be at most {MAX_TOKEN_LENGTH} printable ASCII characters, no spaces.",
            param="token",
        )
    return token


def _timeout(value: float) -> float:
    seconds = float(value)
    longest = outbound.max_timeout()
    if not math.isfinite(seconds) or not MIN_TIMEOUT_SECONDS <= seconds <= longest:
        raise InvalidRequest(
            f"timeout_seconds must be from {MIN_TIMEOUT_SECONDS:g} to {longest:g}.",
            param="timeout_seconds",
        )
    return seconds


def call_timeout(issuer: Issuer) -> float:
    """The issuer's timeout, within the installation's cap (it may have been saved above a
    cap lowered since)."""
    return min(issuer.timeout_seconds, outbound.max_timeout())


def _attempts(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 50:
        raise InvalidRequest(
            "max_attempts must be a whole number from 1 to 50.", param="max_attempts"
        )
    return value


def _brand(brand: Brand | None, project_id: int, livemode: bool) -> Brand | None:
    if brand is not None and (brand.project_id != project_id or brand.livemode != livemode):
        raise InvalidRequest(RewardError.BRAND_MISMATCH, param="brand")
    return brand


def create_issuer(
    *,
    project: Project,
    livemode: bool,
    name: str,
    url: str,
    token: str = "",
    brand: Brand | None = None,
    timeout_seconds: float = 10.0,
    max_attempts: int = 8,
) -> Issuer:
    """A provider's API for one project and mode; its token is stored encrypted only."""
    token = _token(token)
    return Issuer.objects.create(
        project=project,
        livemode=livemode,
        name=_name(name),
        url=_url(url),
        token_encrypted=encrypt(token) if token else "",
        brand=_brand(brand, project.pk, livemode),
        timeout_seconds=_timeout(timeout_seconds),
        max_attempts=_attempts(max_attempts),
    )


def current_token(issuer: Issuer) -> str | None:
    try:
        return issuer.token_value()
    except DecryptionFailed:
        return None


UPDATABLE = ("name", "url", "token", "brand", "timeout_seconds", "max_attempts")


def update_issuer(issuer: Issuer, **changes: Any) -> Issuer:
    """Changes the given settings (token "" or None removes it; brand None detaches it).

    A new URL or token closes the circuit: the pause was about the old configuration.
    Only the changed columns are written, so the circuit's concurrent updates are kept.
    """
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"update_issuer() cannot change {', '.join(sorted(unknown))}")
    # Everything is checked before anything is assigned: a refusal leaves the issuer as it was.
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = _name(changes["name"])
    if "url" in changes:
        values["url"] = _url(changes["url"])
    reconfigured = "url" in values and values["url"] != issuer.url
    if "token" in changes:
        token = _token(changes["token"])
        values["token_encrypted"] = encrypt(token) if token else ""
        reconfigured = reconfigured or token != current_token(issuer)
    if "brand" in changes:
        values["brand"] = _brand(changes["brand"], issuer.project_id, issuer.livemode)
    if "timeout_seconds" in changes:
        values["timeout_seconds"] = _timeout(changes["timeout_seconds"])
    if "max_attempts" in changes:
        values["max_attempts"] = _attempts(changes["max_attempts"])
    if reconfigured:
        values.update(consecutive_failures=0, circuit_open_until=None)
    for field, value in values.items():
        setattr(issuer, field, value)
    if values:
        issuer.save(update_fields=list(values))
    return issuer
