"""The few exceptions the core raises, each with its HTTP status; `authz.api.http.error_response` renders them."""

from __future__ import annotations


class AuthzError(Exception):
    status = 400

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The request's field the error is about, when one is (the JSON answer says it in ``message``; the portal
        # names it in Dutch beside the field).
        self.field = field


class Invalid(AuthzError):
    """The request is malformed or breaks a rule of input (422)."""

    status = 422


class NotFound(AuthzError):
    status = 404


class Forbidden(AuthzError):
    status = 403


class Unauthorized(AuthzError):
    status = 401


class Conflict(AuthzError):
    """A unique key, a stale version or a rule such as R4 stands in the way (409)."""

    status = 409


class Unavailable(AuthzError):
    """The service cannot vouch for an answer now (503): stale data, no database."""

    status = 503
