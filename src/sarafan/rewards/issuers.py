"""External certificate issuers: their settings, and the client of their HTTP API.

The JSON contract a provider implements is in the README ("External issuers"). `issue`
sends the reward's reference as the Idempotency-Key, so a retry after a lost answer gets
the certificate already issued instead of a second one. Nothing is retried here: the
caller schedules the next attempt after `backoff(attempt)`.

Each issuer has a circuit. After CIRCUIT_THRESHOLD unavailable answers in a row, calls
stop for a pause (CircuitOpen) that doubles with each further failure, so a failing
provider is not hammered; when the pause is over, one call is let through as a probe, and
its outcome closes the circuit or reopens it for longer. The bookkeeping is a few short
UPDATEs on the issuer's row, so workers in many processes share one circuit.
"""

import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sarafan.core.crypto import DecryptionFailed, encrypt
from sarafan.core.errors import InvalidRequest
from sarafan.core.logging import mask_secrets
from sarafan.core.money import money_str, quantize
from sarafan.projects.models import Project

from .models import Brand, CertificateStatus, Issuer

logger = logging.getLogger("sarafan.rewards.issuers")

CIRCUIT_THRESHOLD = 5
CIRCUIT_FIRST_PAUSE = timedelta(seconds=30)
CIRCUIT_MAX_PAUSE = timedelta(minutes=10)
# How long a half-open circuit stays reserved for its probe beyond the probe's timeout; a
# probe whose process died frees the circuit for the next one after this.
PROBE_MARGIN = timedelta(seconds=5)
BACKOFF_FIRST = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=1)
BACKOFF_JITTER = 0.2
# Statuses that mean "not now" rather than "no": the same request may succeed later.
RETRYABLE_STATUSES = frozenset({408, 429})
MAX_ANSWER_BYTES = 1024 * 1024
MAX_CODE_LENGTH = 200
MAX_REFERENCE_LENGTH = 200
MAX_TOKEN_LENGTH = 2000
MAX_MESSAGE_LENGTH = 300
USER_AGENT = "Sarafan"
CIRCUIT_FIELDS = ["consecutive_failures", "circuit_open_until", "last_error", "last_success_at"]
_jitter = secrets.SystemRandom()


class CircuitState(models.TextChoices):
    CLOSED = "closed", _("closed: calls go through")
    OPEN = "open", _("open: calls are paused")
    HALF_OPEN = "half_open", _("half-open: the next call tests the provider")


@dataclass(frozen=True)
class Issued:
    """A certificate the provider issued (or had issued for the same reference before)."""

    external_id: str
    code: str
    pin: str
    amount: Decimal
    currency: str
    expires_at: datetime | None
    status: str


class IssuerUnavailable(Exception):
    """No usable answer (timeout, no connection, 5xx, 429, malformed answer): retry later."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class IssuerRefused(Exception):
    """The provider answered no (a 4xx, or a certificate other than asked): do not retry."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class CircuitOpen(Exception):
    """Calls to this issuer are paused until `until` after failures in a row."""

    def __init__(self, until: datetime, failures: int) -> None:
        super().__init__(
            f"Calls to the issuer are paused until {until.isoformat()} "
            f"after {failures} failures in a row."
        )
        self.until = until


# -- settings ------------------------------------------------------------------------------


def _name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidRequest("An issuer needs a name of 1 to 200 characters.", param="name")
    return name


def _url(value: str) -> str:
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
    if not math.isfinite(seconds) or not 0.5 <= seconds <= 60:
        raise InvalidRequest("timeout_seconds must be from 0.5 to 60.", param="timeout_seconds")
    return seconds


def _attempts(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 50:
        raise InvalidRequest(
            "max_attempts must be a whole number from 1 to 50.", param="max_attempts"
        )
    return value


def _brand(brand: Brand | None, project_id: int, livemode: bool) -> Brand | None:
    if brand is not None and (brand.project_id != project_id or brand.livemode != livemode):
        raise InvalidRequest(
            "The brand belongs to another project or mode.", code="brand_mismatch", param="brand"
        )
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


def _current_token(issuer: Issuer) -> str | None:
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
        reconfigured = reconfigured or token != _current_token(issuer)
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


# -- circuit -------------------------------------------------------------------------------


def circuit_state(issuer: Issuer, *, now: datetime | None = None) -> CircuitState:
    until = issuer.circuit_open_until
    if until is None:
        return CircuitState.CLOSED
    return CircuitState.OPEN if until > (now or timezone.now()) else CircuitState.HALF_OPEN


def circuit_pause(failures: int) -> timedelta:
    """How long calls stop after `failures` in a row (at least CIRCUIT_THRESHOLD)."""
    doublings = min(max(failures - CIRCUIT_THRESHOLD, 0), 20)
    return min(CIRCUIT_FIRST_PAUSE * 2**doublings, CIRCUIT_MAX_PAUSE)


def _enter(issuer: Issuer) -> None:
    """Raises CircuitOpen while calls are paused; when the pause is over, lets one caller
    through as the probe (the one whose UPDATE moves the pause on) and keeps the rest out.
    """
    issuer.refresh_from_db(fields=CIRCUIT_FIELDS)
    until = issuer.circuit_open_until
    if until is None:
        return
    now = timezone.now()
    if until > now:
        raise CircuitOpen(until, issuer.consecutive_failures)
    probe_until = now + timedelta(seconds=issuer.timeout_seconds) + PROBE_MARGIN
    claimed = Issuer.objects.filter(pk=issuer.pk, circuit_open_until=until).update(
        circuit_open_until=probe_until
    )
    if claimed:
        issuer.circuit_open_until = probe_until
        return
    issuer.refresh_from_db(fields=CIRCUIT_FIELDS)
    if issuer.circuit_open_until is not None:
        raise CircuitOpen(issuer.circuit_open_until, issuer.consecutive_failures)


def _record_success(issuer: Issuer) -> None:
    now = timezone.now()
    Issuer.objects.filter(pk=issuer.pk).update(
        consecutive_failures=0, circuit_open_until=None, last_success_at=now
    )
    issuer.consecutive_failures, issuer.circuit_open_until, issuer.last_success_at = 0, None, now


def _record_refusal(issuer: Issuer, error: str) -> None:
    # The provider answered, so it is up: the run of failures is over.
    Issuer.objects.filter(pk=issuer.pk).update(
        consecutive_failures=0, circuit_open_until=None, last_error=error[:500]
    )
    issuer.consecutive_failures, issuer.circuit_open_until, issuer.last_error = 0, None, error[:500]


def _record_failure(issuer: Issuer, error: str) -> None:
    row = Issuer.objects.filter(pk=issuer.pk)
    row.update(consecutive_failures=F("consecutive_failures") + 1, last_error=error[:500])
    failures = row.values_list("consecutive_failures", flat=True).get()
    issuer.consecutive_failures, issuer.last_error = failures, error[:500]
    if failures >= CIRCUIT_THRESHOLD:
        until = timezone.now() + circuit_pause(failures)
        # Conditional: a success recorded meanwhile (failures back to 0) keeps it closed.
        if row.filter(consecutive_failures=failures).update(circuit_open_until=until):
            issuer.circuit_open_until = until
            logger.warning(
                "issuer %s: %d failures in a row, calls paused until %s",
                issuer.public_id,
                failures,
                until.isoformat(),
            )


def _scrub(issuer: Issuer, exc: IssuerUnavailable | IssuerRefused) -> str:
    """The failure without the issuer's token or a certificate code, should the provider's
    answer echo one; the exception carries the scrubbed text on to every later record."""
    error = mask_secrets(str(exc), (_current_token(issuer) or "",))
    exc.args = (error,)
    return error


def _guarded[T](issuer: Issuer, what: str, call: Callable[[], T]) -> T:
    _enter(issuer)
    try:
        result = call()
    except IssuerUnavailable as exc:
        error = _scrub(issuer, exc)
        logger.warning("issuer %s: %s unavailable: %s", issuer.public_id, what, error)
        _record_failure(issuer, error)
        raise
    except IssuerRefused as exc:
        error = _scrub(issuer, exc)
        logger.warning("issuer %s: %s refused: %s", issuer.public_id, what, error)
        _record_refusal(issuer, error)
        raise
    _record_success(issuer)
    return result


def backoff(attempt: int) -> timedelta:
    """The delay before retry number `attempt` (1-based): 5 s, 10 s, 20 s … up to an hour,
    each ±20 % at random so rewards that failed together do not retry together."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    base = min(BACKOFF_FIRST * 2 ** min(attempt - 1, 20), BACKOFF_MAX)
    delay = base * _jitter.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
    return min(delay, BACKOFF_MAX)


# -- HTTP ----------------------------------------------------------------------------------


def _headers(issuer: Issuer, *, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    try:
        token = issuer.token_value()
    except DecryptionFailed:
        raise IssuerRefused(
            "The issuer's token cannot be decrypted with the configured encryption keys; "
            "set it again."
        ) from None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return headers


_shared_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _client() -> httpx.Client:
    """One client per process: it keeps connections, and its TLS setup (which costs tens of
    milliseconds), between calls."""
    global _shared_client
    if _shared_client is None:
        with _client_lock:
            if _shared_client is None:
                _shared_client = httpx.Client(follow_redirects=False)
    return _shared_client


def _forget_client() -> None:
    # A forked worker must not share the parent's sockets (nor inherit a held lock).
    global _shared_client, _client_lock
    _shared_client, _client_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_client)


def _send(
    issuer: Issuer, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, bytes]:
    """The status and body of one request, read within the timeout and MAX_ANSWER_BYTES."""
    timeout = issuer.timeout_seconds
    deadline = time.monotonic() + timeout
    url = issuer.url.rstrip("/") + path
    try:
        with _client().stream(method, url, json=body, headers=headers, timeout=timeout) as r:
            answer = bytearray()
            for chunk in r.iter_bytes():
                answer += chunk
                if len(answer) > MAX_ANSWER_BYTES:
                    raise IssuerUnavailable("The provider's answer is larger than 1 MiB.")
                if time.monotonic() > deadline:
                    raise IssuerUnavailable(f"No complete answer within {timeout:g} s.")
            return r.status_code, bytes(answer)
    except httpx.TimeoutException:
        raise IssuerUnavailable(f"No answer within {timeout:g} s.") from None
    except httpx.HTTPError as exc:
        raise IssuerUnavailable(
            f"Cannot reach the provider: {str(exc) or type(exc).__name__}."
        ) from None


def _json(answer: bytes) -> Any:
    try:
        return json.loads(answer, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise IssuerUnavailable("The provider's answer is not JSON.") from None


def _provider_message(answer: bytes) -> str:
    """The error message of an answer `{"error": {"message": …}}` (or close), cleaned up."""
    try:
        data = json.loads(answer)
    except (ValueError, RecursionError):
        return ""
    message: Any = None
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if not isinstance(message, str):
            message = data.get("message")
    if not isinstance(message, str):
        return ""
    return " ".join(message.split())[:MAX_MESSAGE_LENGTH]


def _failure(status_code: int, answer: bytes) -> IssuerUnavailable | IssuerRefused:
    message = _provider_message(answer)
    detail = f": {message}" if message else "."
    if status_code >= 500 or status_code in RETRYABLE_STATUSES:
        return IssuerUnavailable(f"HTTP {status_code}{detail}", status_code=status_code)
    if 300 <= status_code < 400:
        return IssuerRefused(
            f"HTTP {status_code}: the provider redirects; set the issuer's url to the final "
            "address.",
            status_code=status_code,
        )
    if 400 <= status_code < 500:
        return IssuerRefused(
            f"The provider refused (HTTP {status_code}){detail}", status_code=status_code
        )
    return IssuerUnavailable(f"Unexpected HTTP {status_code}.", status_code=status_code)


def _malformed(what: str) -> IssuerUnavailable:
    return IssuerUnavailable(f"The provider's answer is malformed: {what}.")


def _text(data: dict[str, Any], key: str, *, required: bool) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value.strip()) > MAX_CODE_LENGTH:
        raise _malformed(f'"{key}" must be a string of at most {MAX_CODE_LENGTH} characters')
    if required and not value.strip():
        raise _malformed(f'"{key}" is empty')
    return value.strip()


def _amount(value: Any) -> Decimal:
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise InvalidOperation
        amount = Decimal(value)
    except InvalidOperation:
        raise _malformed('"amount" must be a decimal number such as "500.00"') from None
    if not amount.is_finite():
        raise _malformed('"amount" must be a decimal number such as "500.00"')
    return amount


def _expiry(value: Any) -> datetime | None:
    """An ISO 8601 date-time (UTC when it has no offset) or a date (valid through that day)."""
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), clock.max, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _malformed('"expires_at" must be an ISO 8601 date-time') from None
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment


def _status(value: Any) -> str:
    if value not in CertificateStatus.values:
        raise _malformed(f'"status" must be one of {", ".join(CertificateStatus.values)}')
    return str(value)


def _issued(data: Any, *, amount: Decimal, currency: str) -> Issued:
    if not isinstance(data, dict):
        raise _malformed("not a JSON object")
    external_id = _text(data, "id", required=True)
    issued = Issued(
        external_id=external_id,
        code=_text(data, "code", required=True),
        pin=_text(data, "pin", required=False),
        amount=_amount(data.get("amount")),
        currency=_text(data, "currency", required=False) or currency,
        expires_at=_expiry(data.get("expires_at")),
        status=_status(data.get("status", CertificateStatus.ACTIVE)),
    )
    # The provider issued something else than asked: a retry returns the same certificate,
    # so this is final, and someone has to look at the provider's certificate.
    if issued.amount != amount or issued.currency != currency:
        raise IssuerRefused(
            f"The provider issued {issued.amount} {issued.currency} instead of "
            f"{money_str(amount)} {currency} (its certificate {external_id})."
        )
    if issued.expires_at is not None and issued.expires_at <= timezone.now():
        raise IssuerRefused(
            f"The provider issued an expired certificate (its certificate {external_id})."
        )
    return issued


# -- operations ----------------------------------------------------------------------------


def _check_reference(reference: str) -> str:
    if not 1 <= len(reference) <= MAX_REFERENCE_LENGTH or not all(
        "!" <= char <= "~" for char in reference
    ):
        raise ValueError(f"reference must be 1 to {MAX_REFERENCE_LENGTH} printable ASCII chars")
    return reference


def _segment(external_id: str) -> str:
    if not 1 <= len(external_id) <= MAX_CODE_LENGTH:
        raise ValueError(f"external_id must be 1 to {MAX_CODE_LENGTH} characters")
    return quote(external_id, safe="")


def issue(
    issuer: Issuer,
    *,
    reference: str,
    amount: Decimal,
    currency: str,
    brand: str,
    recipient_email: str = "",
    recipient_name: str = "",
) -> Issued:
    """Asks the provider for a certificate of `amount`; the same reference always gets the
    same certificate (the Idempotency-Key). Make the call outside a transaction: it waits on
    the network, and its circuit bookkeeping is meant to commit on its own.
    """
    _check_reference(reference)
    if not amount.is_finite() or amount <= 0 or quantize(amount) != amount:
        raise ValueError("amount must be positive with at most two decimal places")
    headers = _headers(issuer, idempotency_key=reference)
    body = {
        "reference": reference,
        "amount": money_str(amount),
        "currency": currency,
        "brand": brand or "",
        "recipient": {"email": recipient_email or "", "name": recipient_name or ""},
    }

    def call() -> Issued:
        status_code, answer = _send(issuer, "POST", "/certificates", headers, body)
        if status_code not in (200, 201):
            raise _failure(status_code, answer)
        return _issued(_json(answer), amount=amount, currency=currency)

    return _guarded(issuer, f"issue {reference}", call)


def status(issuer: Issuer, external_id: str) -> str:
    """The certificate's status at the provider: active, redeemed, cancelled or expired."""
    path = f"/certificates/{_segment(external_id)}"
    headers = _headers(issuer)

    def call() -> str:
        status_code, answer = _send(issuer, "GET", path, headers)
        if status_code != 200:
            raise _failure(status_code, answer)
        data = _json(answer)
        return _status(data.get("status") if isinstance(data, dict) else None)

    return _guarded(issuer, f"status of {external_id}", call)


def cancel(issuer: Issuer, external_id: str) -> None:
    """Cancels the certificate at the provider; one it does not know (404) counts as done."""
    path = f"/certificates/{_segment(external_id)}/cancel"
    headers = _headers(issuer)

    def call() -> None:
        status_code, answer = _send(issuer, "POST", path, headers)
        if not (200 <= status_code < 300 or status_code == 404):
            raise _failure(status_code, answer)

    _guarded(issuer, f"cancel {external_id}", call)
