"""Keeps spendable secrets out of the logs: certificate codes and PINs, API keys, portal tokens.

`MaskSecrets` is installed on every handler and request logger settings.LOGGING configures.
It rewrites a record before any handler writes it: the secret part of the URL shapes that
carry one (/api/v1/certificates/<code>/…, /p/<token>…, query parameters named like key,
token, code or PIN) and anything that looks like an API key or a Sarafan certificate code,
wherever it appears. A masked value keeps its first characters, so an operator can still
tell two requests apart and match them to the console's key prefixes.
"""

import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

MARK = "…"
# The secret segment after these path prefixes (the certificates API, the holder's portal).
_SECRET_PATHS = re.compile(r"(/api/v1/certificates/|/p/)([^/?#&\s\"'<>]+)")
# A query parameter whose name says it is a credential, at the start of a query string too.
_SECRET_PARAMS = re.compile(
    r"((?:^|[?&;])[\w.-]*(?:key|token|code|pin|secret|password)[\w.-]*=)([^&#;\s\"'<>]*)",
    re.IGNORECASE,
)
# sk_live_…, sk_test_…, pk_live_…, pk_test_… (projects/services.py makes their bodies).
_API_KEY = re.compile(r"\b([sp]k_(?:live|test)_)([A-Za-z0-9_-]{6,})")
# Sarafan's own certificate codes, SF-XXXX-XXXX-XXXX-XXXX (core/codes.py).
_CERTIFICATE_CODE = re.compile(r"\b(SF-)([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})\b", re.IGNORECASE)
_NUMBERS = (int, float, Decimal)
_DONE = "_sarafan_masked"


def mask(value: str, *, keep: int | None = None) -> str:
    """`value` with all but its first characters hidden: 4 of a long one, 2 of a shorter
    one, none of a value under 8 characters (a PIN). A value already masked is kept."""
    if not value or value.endswith(MARK):
        return value
    if keep is None:
        keep = 4 if len(value) >= 16 else 2 if len(value) >= 8 else 0
    return value[:keep] + MARK


def _masked_key(match: re.Match[str]) -> str:
    # Four characters of a real key's body are what the console shows as its prefix.
    body = match[2]
    return match[1] + mask(body, keep=4 if len(body) >= 16 else 0)


def _masked_code(match: re.Match[str]) -> str:
    return match[1] + mask(match[2], keep=2)


def _mask_segment(value: str) -> str:
    if code := _CERTIFICATE_CODE.fullmatch(value):
        return _masked_code(code)
    if key := _API_KEY.fullmatch(value):
        return _masked_key(key)
    return mask(value)


def mask_text(text: str) -> str:
    """The text with every secret it is known to carry masked."""
    text = _SECRET_PATHS.sub(lambda m: m[1] + _mask_segment(m[2]), text)
    text = _SECRET_PARAMS.sub(lambda m: m[1] + _mask_segment(m[2]), text)
    text = _API_KEY.sub(_masked_key, text)
    return _CERTIFICATE_CODE.sub(_masked_code, text)


def mask_secrets(text: str, secrets: "tuple[str, ...] | list[str]") -> str:
    """The text with the given secrets (a code, a PIN, a token) and every known shape masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, _mask_segment(secret))
    return mask_text(text)


def _mask_arg(arg: Any) -> Any:
    """A formatting argument with its secrets masked; numbers stay numbers for %d and %f."""
    if arg is None or isinstance(arg, (bool, *_NUMBERS)):
        return arg
    if isinstance(arg, str):
        return mask_text(arg)
    text = str(arg)
    masked = mask_text(text)
    return arg if masked == text else masked


class MaskedRequest:
    """A log record's `request` that renders its path masked; everything else is the request's."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def __getattr__(self, name: str) -> Any:
        if name == "_request":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        value = getattr(self._request, name)
        if name in ("path", "path_info") and isinstance(value, str):
            return mask_text(value)
        return value

    def get_full_path(self, *args: Any, **kwargs: Any) -> str:
        return mask_text(self._request.get_full_path(*args, **kwargs))

    def build_absolute_uri(self, *args: Any, **kwargs: Any) -> str:
        return mask_text(self._request.build_absolute_uri(*args, **kwargs))

    def __str__(self) -> str:
        return mask_text(str(self._request))

    def __repr__(self) -> str:
        return mask_text(repr(self._request))


def mask_record(record: logging.LogRecord) -> None:
    """Mask a record's message, arguments, traceback and request in place, once."""
    if getattr(record, _DONE, False):
        return
    if isinstance(record.msg, str):
        record.msg = mask_text(record.msg)
    else:
        record.msg = _mask_arg(record.msg)
    if isinstance(record.args, Mapping):
        # granian's access log passes its fields (path, query_string, …) as a mapping.
        record.args = {key: _mask_arg(value) for key, value in record.args.items()}
    elif record.args:
        record.args = tuple(_mask_arg(arg) for arg in record.args)
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    request = getattr(record, "request", None)
    if request is not None and not isinstance(request, MaskedRequest):
        record.request = MaskedRequest(request)
    setattr(record, _DONE, True)


class MaskSecrets(logging.Filter):
    """The logging filter of settings.LOGGING: masks each record, drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True
