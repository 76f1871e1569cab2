"""Domain errors: each has a stable code; one handler turns them into API.md's error shape."""

from typing import ClassVar


class SarafanError(Exception):
    status: ClassVar[int] = 400
    type: ClassVar[str] = "invalid_request"
    default_code: ClassVar[str] = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param

    def as_body(self) -> dict[str, dict[str, str | None]]:
        return error_body(self.type, self.code, self.message, self.param)


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
