"""R4: every verified organisation with accounts keeps an active beheerder; with only one, appoint a second."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from authz.domain.state import Acct
from authz.errors import Conflict

ROLE = "beheerder"


def counts(status: str, roles: Collection[str]) -> bool:
    """Whether an account with this status and these roles is an active beheerder: the ones R4 counts."""
    return status == "active" and ROLE in roles


def active(members: Iterable[Acct]) -> list[str]:
    """The e-mails of the active beheerders among ``members``, sorted."""
    return sorted(a.email for a in members if counts(a.status, a.roles))


def lacking(verified: bool, members: Collection[Acct]) -> bool:
    """R4 as a state: true when it is broken, for a verified organisation with accounts (``members``) none of
    which is an active beheerder."""
    return verified and bool(members) and not active(members)


def alone(beheerders: Collection[str]) -> bool:
    """With exactly one active beheerder the organisation is advised to appoint a second."""
    return len(beheerders) == 1


def check_change(before: Collection[str], after: Collection[str], email: str) -> None:
    """R4 across one change to account ``email``, given the organisation's active beheerders before and after it:
    an organisation that had an active beheerder keeps one (409 ``last_beheerder`` otherwise)."""
    if before and not after:
        raise Conflict("last_beheerder", f"{email} is the last active beheerder of this organisation; appoint "
                                         f"another beheerder first.")
