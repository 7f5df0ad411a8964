"""Point-in-time review: who could see product Y for afnemer Z at a past moment, and why.

The state at that moment is rebuilt from the audit trail (:func:`authz.store.policystate.replay`) and R1 is asked
of a :class:`authz.decider.Decider` holding it, on that moment's day: the same logic as /v1/check, not a second one.
Each answer carries the grant (who ticked it, when), the contract and, for another organisation's user, the mandate
that made it so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from authz.clock import AMSTERDAM
from authz.domain.state import Contr, GrantRec, Mand, PolicyState
from authz.errors import Invalid
from authz.policyfile.model import decider_for, utc_text
from authz.store import policystate
from authz.store.db import Database


@dataclass(frozen=True)
class Why:
    user: str
    org: str | None  # the user's organisation
    afnemer: str
    grant: GrantRec
    contract: Contr
    mandate: Mand | None  # None: the user's own organisation is the afnemer

    def as_dict(self) -> dict[str, Any]:
        m = self.mandate
        return {
            "user": self.user, "afnemer": self.afnemer,
            "grant": {"granted_by": self.grant.granted_by, "granted_at": utc_text(self.grant.granted_at)},
            "contract": _window(self.contract.valid_from, self.contract.valid_until),
            "mandate": None if m is None else {"intermediair": m.intermediair, **_window(m.valid_from, m.valid_until),
                                               "products": list(m.products) if m.products is not None else None},
        }


def _window(valid_from: date, valid_until: date | None) -> dict[str, str | None]:
    return {"valid_from": valid_from.isoformat(), "valid_until": valid_until.isoformat() if valid_until else None}


def moment(text: str, field: str = "at") -> tuple[datetime, date]:
    """A DATE (the end of that day in Europe/Amsterdam: the state as the day closed) or an ISO instant with a time
    zone, as (instant, day in Europe/Amsterdam). Invalid ``invalid_date`` when it is neither, ``invalid_field`` when
    it is one but lies where no instant can be computed (the ends of year 1 and year 9999 in some time zone)."""
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise Invalid("invalid_date", f"'{field}' is not a date: {text!r}.") from None
        return _in_range(lambda: datetime.combine(day + timedelta(days=1), time.min, AMSTERDAM)
                         - timedelta(microseconds=1), field, text)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise Invalid("invalid_date", f"'{field}' must be an ISO day (YYYY-MM-DD) or an instant with a time zone.")
    return _in_range(lambda: at, field, text)


def _in_range(instant: Callable[[], datetime], field: str, text: str) -> tuple[datetime, date]:
    """(instant, its day in Europe/Amsterdam), both also expressible in UTC (the answer and the audit trail are)."""
    try:
        at = instant()
        at.astimezone(UTC)
        return at, at.astimezone(AMSTERDAM).date()
    except OverflowError:
        raise Invalid("invalid_field", f"'{field}' lies outside the range of dates this service can handle: "
                                       f"{text!r}.") from None


def state_for(db: Database, afnemer: str | None, at: datetime) -> PolicyState:
    """The state at ``at``; with ``afnemer``, only what concerns it and the organisations it gave mandates."""
    with db.read() as s:
        if afnemer is None:
            return policystate.replay(s, at)
        return policystate.replay(s, at, {afnemer, *policystate.mandate_holders(s, afnemer, at)})


def who_could_see(st: PolicyState, product: str, afnemer: str | None, day: date) -> list[Why]:
    """Every (user, afnemer) allowed ``product`` on ``day`` in ``st``, in (user, afnemer) order, with the facts."""
    decider = decider_for(st, day)
    out: list[Why] = []
    for user, a in decider.users_of(product, afnemer):
        org = st.accounts[user].org
        out.append(Why(user, org, a, st.grants[(user, a, product)], st.contracts[(a, product)],
                       st.mandates.get((a, org)) if org is not None and org != a else None))
    return out
