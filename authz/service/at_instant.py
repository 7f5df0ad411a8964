"""A decision as of an instant: the NLGov profile's ``context.time`` (SPEC §4 "AuthZEN").

Three cases, by where the instant lies against this instance's clock:

- **now** (within :data:`NOW_TOLERANCE`): the live decider, exactly as ``/v1/check`` answers;
- **ahead**: the live decider asked for that instant's day: today's accounts, grants and products against the
  contracts and mandates as they stand for that day (one that starts or ends in between counts as it will then);
  what no one has changed yet is all the future knows;
- **past**: the state at that instant rebuilt from the audit trail (R12) by the replay the point-in-time review
  uses (:func:`authz.domain.state.apply_record`), but only of the records about this account, this product, the
  afnemer asked for and the contracts and mandates the account's grants of the product rest on: a handful of rows
  found by index (``ix_audit_subject_at``), never the whole trail. R1 is then asked of a decider holding that
  small state on the instant's day (:func:`authz.policyfile.model.decider_for`): the rules of ``/v1/check``, not a
  copy of them.

The past reads SQL and runs in a worker thread (:func:`decide_at` sends it there); now and ahead read only the
decider and run on the event loop, as every read of the decider must. The edge vouches for the decider first, as
for ``/v1/check`` (``ensure_current``); an answer about the past needs no such vouching (the trail is the truth).

An instant of the trail is the moment its change's transaction began (``Tx.now``): a question about the few
milliseconds between a change's start and its commit sees it already.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

import anyio.to_thread

from authz.clock import AMSTERDAM
from authz.decider import Decider, Decision
from authz.domain.access import Reason
from authz.domain.state import PolicyState
from authz.policyfile.model import decider_for
from authz.store import policystate
from authz.store.db import Database

# How far from this instance's clock an instant still counts as now: the clocks of the caller and of this service,
# and the request's way here, differ by less than that.
NOW_TOLERANCE = timedelta(seconds=1)


class Basis(StrEnum):
    """What answered: the audit trail (a past instant), the live decider now, or the live decider for a later day."""

    TRAIL = "trail"
    NOW = "now"
    AHEAD = "ahead"


class DecisionAt(NamedTuple):
    """A decision as of ``at`` (UTC): R1's answer with its reason, on ``day`` (Europe/Amsterdam), at ``revision``
    (the newest change at or before ``at`` for the past; the decider's revision for now and ahead)."""

    allowed: bool
    reason: Reason
    afnemers: tuple[str, ...]
    revision: int
    at: datetime
    day: date
    basis: Basis


def basis(now: datetime, when: datetime) -> Basis:
    """Which of the three cases ``when`` is, seen from ``now``."""
    if when < now - NOW_TOLERANCE:
        return Basis.TRAIL
    if when > now + NOW_TOLERANCE:
        return Basis.AHEAD
    return Basis.NOW


def _day(when: datetime) -> date:
    return when.astimezone(AMSTERDAM).date()


def _at(d: Decision, when: datetime, day: date, b: Basis) -> DecisionAt:
    return DecisionAt(d.allowed, d.reason, d.afnemers, d.revision, when, day, b)


def decide_live(decider: Decider, when: datetime, user: str, product: str, afnemer: str | None) -> DecisionAt:
    """Now or ahead, from the live decider (no SQL: call it on the event loop). ``user`` lower-case, ``product`` and
    ``afnemer`` parsed by the edge."""
    b = basis(decider.clock.now(), when)
    if b is Basis.TRAIL:
        raise ValueError("a past instant is answered from the audit trail: decide_past")
    if b is Basis.NOW:
        return _at(decider.check(user, product, afnemer), when, decider.clock.today(), b)
    day = _day(when)
    return _at(decider.check(user, product, afnemer, day.toordinal()), when, day, b)


def decide_past(db: Database, when: datetime, user: str, product: str, afnemer: str | None) -> DecisionAt:
    """As of the past instant ``when``, from the audit trail (reads SQL, in one transaction: call it in a worker
    thread). Before any record the replay knows nobody: ``unknown_user`` (R13 names the user first), as
    ``/v1/check`` answered then."""
    day = _day(when)
    with db.read() as s:
        revision = policystate.revision_at(s, when)
        subjects = {f"account:{user}", f"product:{product}"}
        if afnemer is not None:
            subjects.add(f"organisation:{afnemer}")
        st = policystate.replay_about(s, when, subjects)
        policystate.replay_about(s, when, _rests_on(st, user, product, afnemer), st)
    decision = decider_for(st, day).check(user, product, afnemer)
    return DecisionAt(decision.allowed, decision.reason, decision.afnemers, revision, when, day, Basis.TRAIL)


def _rests_on(st: PolicyState, user: str, product: str, afnemer: str | None) -> set[str]:
    """The subjects of the contracts and mandates that ``user``'s grants of ``product`` in ``st`` rest on (for
    ``afnemer`` only, when named): the rest of what R1 reads."""
    account = st.accounts.get(user)
    if account is None:
        return set()
    out: set[str] = set()
    for email, a, p in st.grants:
        if email == user and p == product and afnemer in (None, a):
            out.add(f"contract:{a}/{product}")
            if account.org is not None and account.org != a:
                out.add(f"mandate:{a}/{account.org}")
    return out


async def decide_at(db: Database, decider: Decider, when: datetime, user: str, product: str,
                    afnemer: str | None) -> DecisionAt:
    """The decision as of ``when`` (an aware instant; :func:`authz.values.instant` reads RFC 3339): from the audit
    trail in a worker thread for a past instant, else from the live decider on the calling event loop."""
    if basis(decider.clock.now(), when) is Basis.TRAIL:
        return await anyio.to_thread.run_sync(decide_past, db, when, user, product, afnemer)
    return decide_live(decider, when, user, product, afnemer)
