"""Domain errors: each has a stable code; one handler turns them into API.md's error shape.

Each app declares its codes once, in `<app>/errors.py`, as an `ErrorCode` enum whose members
carry their message (gettext_lazy):

    class RewardError(ErrorCode):
        NOT_WAITING = "not_waiting", _("This reward is not waiting to be issued any more.")

    raise Conflict(RewardError.NOT_WAITING)  # code "not_waiting", and that message
    raise Conflict(f"The certificate is {status}.", code=RewardError.CERTIFICATE_NOT_ACTIVE)

The API answers the code and the message in English (an explicit text, when the raise gives
one, says more: the status, the line); the console shows the code's message in the reader's
language (`registered(code)`). The members register themselves when their module is
imported; CoreConfig.ready imports every app's `errors` module.
"""

from enum import StrEnum
from typing import Any, ClassVar, Self

from django.utils import translation

_REGISTRY: dict[str, "ErrorCode"] = {}


class ErrorCode(StrEnum):
    """An app's error codes: the value is the code the API answers, `message` its text."""

    message: Any  # a gettext_lazy text

    def __new__(cls, code: str, message: Any) -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.message = message
        return member

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for member in cls:
            known = _REGISTRY.get(member.value)
            if known is not None and known is not member:
                raise TypeError(f"Error code '{member.value}' is declared twice.")
            _REGISTRY[member.value] = member

    @property
    def english(self) -> str:
        """The message as the API answers it (and as rows that keep it store it)."""
        with translation.override("en"):
            return str(self.message)


def registered(code: str) -> ErrorCode | None:
    """The declared code of this name, with its message; None for one no app declares."""
    return _REGISTRY.get(code)


def declared() -> list[ErrorCode]:
    """Every code the imported `errors` modules declare."""
    return list(_REGISTRY.values())


class SarafanError(Exception):
    status: ClassVar[int] = 400
    type: ClassVar[str] = "invalid_request"
    default_code: ClassVar[str] = "invalid_request"

    def __init__(
        self, message: str | ErrorCode, *, code: str | None = None, param: str | None = None
    ):
        if isinstance(message, ErrorCode):
            code = code or message
            message = message.english
        super().__init__(message)
        self.message = message
        self.code = str(code or self.default_code)
        self.param = param

    def as_body(self) -> dict[str, dict[str, str | None]]:
        return error_body(self.type, self.code, self.message, self.param)


def refusal(exc: SarafanError) -> str:
    """What a service's refusal says in the reader's language: its code's declared message,
    else the service's own (English) text."""
    code = registered(exc.code)
    return str(code.message) if code is not None else exc.message


def error_body(
    type_: str, code: str, message: str, param: str | None = None
) -> dict[str, dict[str, str | None]]:
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


class InvalidRequest(SarafanError):
    status = 422


class AuthenticationFailed(SarafanError):
    status = 401
    type = "authentication"
    default_code = "invalid_api_key"


class PermissionDenied(SarafanError):
    status = 403
    type = "permission"
    default_code = "forbidden"


class NotFound(SarafanError):
    status = 404
    type = "not_found"
    default_code = "not_found"


class Conflict(SarafanError):
    status = 409
    type = "conflict"
    default_code = "conflict"


class IdempotencyConflict(SarafanError):
    status = 409
    type = "idempotency_conflict"
    default_code = "idempotency_key_reused"
