"""R16, the gebruiker's own view ("Mijn producten"): what the logged-in account may view now, per afnemer and by
name, who gave it and since when, and the grants it holds that give nothing today, with why and since when.

The facts are read from SQL in one transaction (:mod:`authz.store.mine`), so the page and ``GET
/v1/session/products`` show the state of the moment they are asked (R11: no copy kept in the session). Whether a
grant gives access is decided per grant by :func:`authz.domain.grants.lapse`, which asks
:func:`authz.domain.access.stage` as the decider does; ``tests/test_mine.py`` proves the answer equal to
``/v1/check``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from authz.clock import AMSTERDAM
from authz.domain.grants import Lapse, lapse
from authz.store import mine
from authz.store.db import Database


@dataclass(frozen=True)
class Viewable:
    """A product the account may view now, for ``afnemer``."""

    product: str
    name: str
    url: str | None  # the operator's link to where the product is found, if any
    afnemer: str
    afnemer_name: str
    granted_at: datetime
    granted_by: str  # the e-mail of who ticked it (``cli:…`` for a command)
    granted_by_name: str  # their name, else the e-mail

    def view(self) -> dict[str, Any]:
        """The JSON shape of SPEC §4."""
        return {"product": self.product, "name": self.name, "afnemer": self.afnemer,
                "afnemer_name": self.afnemer_name, "granted_at": self.granted_at.isoformat()}


@dataclass(frozen=True)
class Inert:
    """A grant the account holds that gives nothing today: ``reason`` names which contract or mandate, ``since``
    the day (see :class:`authz.domain.grants.Lapse`; None when the trail does not say)."""

    product: str
    name: str
    afnemer: str
    afnemer_name: str
    reason: Lapse
    since: date | None

    def view(self) -> dict[str, Any]:
        return {"product": self.product, "name": self.name, "afnemer": self.afnemer,
                "afnemer_name": self.afnemer_name, "reason": str(self.reason),
                "since": self.since.isoformat() if self.since is not None else None}


@dataclass(frozen=True)
class Mine:
    products: list[Viewable]  # by afnemer name, then product name
    inert: list[Inert]
    revision: int  # the revision the facts were read at


def _day(at: datetime | None) -> date | None:
    return at.astimezone(AMSTERDAM).date() if at is not None else None


def products(db: Database, email: str) -> Mine:
    """R16 for the account ``email``: every grant it holds, split into what gives access today and what is inert."""
    facts = mine.read(db, email)
    today = db.clock.today()
    viewable: list[Viewable] = []
    inert: list[Inert] = []
    for g in facts.grants:
        name, url = facts.products.get(g.product, (g.product, None))
        afnemer_name = facts.org_names.get(g.afnemer, g.afnemer)
        own = g.afnemer == facts.org
        intermediair = facts.org or ""
        why = lapse(own, g.product, facts.contracts.get((g.afnemer, g.product)), facts.mandates.get(g.afnemer),
                    today, contract_gone=_day(facts.removed.get(mine.contract_subject(g.afnemer, g.product))),
                    mandate_gone=_day(facts.removed.get(mine.mandate_subject(g.afnemer, intermediair))),
                    mandate_changed=_day(facts.mandate_changed.get(g.afnemer)))
        if why is None:
            viewable.append(Viewable(g.product, name, url, g.afnemer, afnemer_name, g.granted_at, g.granted_by,
                                     facts.people.get(g.granted_by) or g.granted_by))
        else:
            inert.append(Inert(g.product, name, g.afnemer, afnemer_name, why[0], why[1]))
    viewable.sort(key=lambda v: (v.afnemer_name.casefold(), v.afnemer, v.name.casefold(), v.product))
    inert.sort(key=lambda i: (i.afnemer_name.casefold(), i.afnemer, i.name.casefold(), i.product))
    return Mine(viewable, inert, facts.revision)
