"""What the policy-file tools do with a :class:`authz.domain.state.PolicyState`: one organisation's part of it, the
decider that holds it, instants as a file writes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from authz.clock import FrozenClock
from authz.decider import Decider, Snapshot
from authz.domain.state import PolicyState


def utc_text(at: datetime) -> str:
    """An instant as written in a policy file: ISO 8601 in UTC with a ``Z``."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- one organisation's part --------------------------------------------------------------------------------------

def only(st: PolicyState, kvk: str) -> PolicyState:
    """The part of ``st`` about organisation ``kvk``: its accounts and their grants, the grants of other
    organisations' accounts for it as afnemer, the mandates it gave or holds, its contracts and those of the
    afnemers it acts for, and the organisations and products those name."""
    out = PolicyState(scope=kvk)
    out.accounts = {e: a for e, a in st.accounts.items() if a.org == kvk}
    out.grants = {k: g for k, g in st.grants.items() if k[0] in out.accounts or k[1] == kvk}
    for (email, _, _) in out.grants:
        out.accounts.setdefault(email, st.accounts[email])
    out.mandates = {k: m for k, m in st.mandates.items() if kvk in k}
    # The contracts its own grants rest on: its own, and those of the afnemers it acts for.
    clients = {m.afnemer for m in out.mandates.values() if m.intermediair == kvk}
    out.contracts = {k: c for k, c in st.contracts.items() if c.afnemer == kvk or c.afnemer in clients}
    kvks = {kvk, *(a.org for a in out.accounts.values() if a.org), *(k[1] for k in out.grants),
            *(k for m in out.mandates for k in m)}
    out.orgs = {k: o for k, o in st.orgs.items() if k in kvks}
    codes = {*(k[1] for k in out.contracts), *(k[2] for k in out.grants),
             *(p for m in out.mandates.values() for p in (m.products or ()))}
    out.products = {c: p for c, p in st.products.items() if c in codes}
    return out


def decider_for(st: PolicyState, day: date, *, all_active: bool = False) -> Decider:
    """A :class:`Decider` holding ``st`` with its clock on ``day``: R1 evaluated by the real decision logic.

    ``all_active`` treats every account as active, to ask whether a grant itself still holds (lint's inert grants).
    """
    clock = FrozenClock(datetime(2000, 1, 1, tzinfo=UTC))
    clock.set_day(day)
    decider = Decider(clock)
    decider.load(Snapshot(
        revision=0, orgs={k: o.name for k, o in st.orgs.items()}, products=set(st.products),
        accounts=[(a.email, a.org, "active" if all_active else a.status) for a in st.accounts.values()],
        grants=list(st.grants), contracts=[(c.afnemer, c.product, c.valid_from, c.valid_until)
                                           for c in st.contracts.values()],
        mandates=[(m.afnemer, m.intermediair, m.valid_from, m.valid_until, list(m.products) if m.products is not None
                   else None) for m in st.mandates.values()]))
    return decider
