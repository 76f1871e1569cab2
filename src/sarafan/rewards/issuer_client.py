"""The client of an external issuer's HTTP API (README, "External issuers").

`issue` sends the reward's reference as the Idempotency-Key, so a retry after a lost
answer gets the certificate already issued instead of a second one. Nothing is retried
here: the caller schedules the next attempt after `backoff(attempt)`.

Calls go through Sarafan's outbound client (core/outbound.py), which refuses local and
private addresses at connect time; what a provider answers is never stored or shown
beyond its HTTP status (its error message goes to the log only). Each issuer has a circuit
(core/circuit.py): after CIRCUIT_THRESHOLD unavailable answers in a row, calls stop for a
pause that doubles with each further failure.
"""

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from django.utils import timezone

from sarafan.core import circuit, outbound
from sarafan.core.crypto import DecryptionFailed
from sarafan.core.logging import mask_secrets
from sarafan.core.money import is_plain_decimal, money_str, quantize

from .issuers import call_timeout, current_token
from .models import CertificateStatus, Issuer

# The issuers' log keeps its name from before the client had a module of its own.
logger = logging.getLogger("sarafan.rewards.issuers")

BACKOFF_FIRST = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=1)
BACKOFF_JITTER = 0.2
# Statuses that mean "not now" rather than "no": the same request may succeed later.
RETRYABLE_STATUSES = frozenset({408, 429})
MAX_ANSWER_BYTES = 1024 * 1024
MAX_CODE_LENGTH = 200
MAX_REFERENCE_LENGTH = 200
MAX_MESSAGE_LENGTH = 300
_jitter = secrets.SystemRandom()


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


# -- circuit -------------------------------------------------------------------------------


def _scrub(issuer: Issuer, exc: Exception) -> str:
    """The failure without the issuer's token or a certificate code, should the provider's
    answer echo one; the exception carries the scrubbed text on to every later record."""
    error = mask_secrets(str(exc), (current_token(issuer) or "",))
    exc.args = (error,)
    return error


def _guarded[T](issuer: Issuer, what: str, call: Callable[[], T]) -> T:
    def scrubbed(exc: Exception) -> str:
        error = _scrub(issuer, exc)
        answer = "unavailable" if isinstance(exc, IssuerUnavailable) else "refused"
        logger.warning("issuer %s: %s %s: %s", issuer.public_id, what, answer, error)
        return error

    return circuit.call_through(
        issuer,
        call,
        call_timeout=timedelta(seconds=call_timeout(issuer)),
        unavailable=IssuerUnavailable,
        refused=IssuerRefused,
        describe=scrubbed,
    )


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
    headers = {"Accept": "application/json"}
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


def _send(
    issuer: Issuer, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, bytes]:
    """The status and body of one request, read within the timeout and MAX_ANSWER_BYTES.

    The reasons are fixed: how a connection failed is not told to the one who set the URL.
    """
    timeout = call_timeout(issuer)
    url = issuer.url.rstrip("/") + path
    try:
        answer = outbound.send(
            method, url, headers=headers, json=body, timeout=timeout, max_bytes=MAX_ANSWER_BYTES
        )
    except outbound.AddressNotAllowed:
        raise IssuerRefused(
            "The provider's address is on a local or private network, which Sarafan does not call."
        ) from None
    except outbound.TimedOut:
        raise IssuerUnavailable(f"No answer within {timeout:g} s.") from None
    except outbound.AnswerTooLarge:
        raise IssuerUnavailable("The provider's answer is larger than 1 MiB.") from None
    except outbound.OutboundError:
        raise IssuerUnavailable("Cannot reach the provider.") from None
    return answer.status_code, answer.body


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


def _failure(issuer: Issuer, status_code: int, answer: bytes) -> IssuerUnavailable | IssuerRefused:
    """The error for an answer other than expected: its status and a fixed reason. The
    provider's own message is for the installation's log only, since whoever set the URL
    could otherwise read what any server answers."""
    # Masked here too: a provider may quote the issuer's token back.
    message = mask_secrets(_provider_message(answer), (current_token(issuer) or "",))
    if message:
        logger.warning("issuer %s answered HTTP %d: %s", issuer.public_id, status_code, message)
    if status_code >= 500 or status_code in RETRYABLE_STATUSES:
        return IssuerUnavailable(f"HTTP {status_code}.", status_code=status_code)
    if 300 <= status_code < 400:
        return IssuerRefused(
            f"HTTP {status_code}: the provider redirects; set the issuer's url to the final "
            "address.",
            status_code=status_code,
        )
    if 400 <= status_code < 500:
        return IssuerRefused(f"The provider refused (HTTP {status_code}).", status_code=status_code)
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
        if isinstance(value, str) and not is_plain_decimal(value):
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
            f"The provider issued another amount or currency than {money_str(amount)} "
            f"{currency} (its certificate {external_id})."
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
            raise _failure(issuer, status_code, answer)
        return _issued(_json(answer), amount=amount, currency=currency)

    return _guarded(issuer, f"issue {reference}", call)


def status(issuer: Issuer, external_id: str) -> str:
    """The certificate's status at the provider: active, redeemed, cancelled or expired."""
    path = f"/certificates/{_segment(external_id)}"
    headers = _headers(issuer)

    def call() -> str:
        status_code, answer = _send(issuer, "GET", path, headers)
        if status_code != 200:
            raise _failure(issuer, status_code, answer)
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
            raise _failure(issuer, status_code, answer)

    _guarded(issuer, f"cancel {external_id}", call)
