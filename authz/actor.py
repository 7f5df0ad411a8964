"""The logged-in account as the permission checks see it, and the check itself through the Casbin model
(r2/p2/m2 of policy.conf). Plain values: the store, the use cases and both edges share them."""

from __future__ import annotations

from dataclasses import dataclass

from authz.errors import Forbidden
from authz.policy import OPERATOR_SCOPE, account_lines, permitted

__all__ = ["OPERATOR_SCOPE", "Actor", "check_permission", "may"]


@dataclass(frozen=True)
class Actor:
    """A logged-in account, as the permission checks see it."""

    id: int
    email: str
    org: str | None
    status: str
    roles: frozenset[str]
    session_hash: str = ""
    org_name: str | None = None
    mfa: bool = False  # R17: whether the account has a confirmed second factor

    def lines(self) -> list[tuple[str, ...]]:
        """This account's role lines in the Casbin model."""
        return account_lines(self.email, self.org, self.status, self.roles)


def may(actor: Actor, action: str, scope: str) -> bool:
    """Whether ``actor`` may do ``action`` in ``scope`` (an organisation's KvK, or the operator scope)."""
    return permitted(actor.lines(), actor.email, scope, action)


def check_permission(actor: Actor, action: str, scope: str) -> None:
    """403 ``forbidden`` unless ``actor`` may do ``action`` in ``scope``."""
    if not may(actor, action, scope):
        raise Forbidden("forbidden", "You may not do that for this organisation.")
