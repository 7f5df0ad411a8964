"""Decisions from memory: R1 answered by dictionary lookups, no SQL and no scan of policy lines.

The index holds the same facts as the Casbin lines (see ``policy.conf``); ``tests/test_decider_equivalence.py``
proves with random worlds that :meth:`Decider.check` gives the answer and reason that Casbin gives.

Threading: the decider is read and written on the event loop thread only. Writes (:meth:`apply`, :meth:`load`)
run without yielding, so a check sees a revision wholly or not at all; reads never take a lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from authz.clock import Clock

OPEN_END = date.max.toordinal()


class Reason(StrEnum):
    GRANTED = "granted"
    UNKNOWN_USER = "unknown_user"
    INACTIVE_USER = "inactive_user"
    UNKNOWN_PRODUCT = "unknown_product"
    NO_GRANT = "no_grant"
    NO_CONTRACT = "no_contract"
    NO_MANDATE = "no_mandate"


# How far a request got through R1: the furthest stage among an account's afnemers names a denial.
_STAGE = {Reason.NO_GRANT: 0, Reason.NO_CONTRACT: 1, Reason.NO_MANDATE: 2, Reason.GRANTED: 3}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    afnemers: tuple[str, ...]
    revision: int


@dataclass(slots=True)
class Snapshot:
    """Every fact a decider needs, read from SQL in one consistent transaction."""

    revision: int
    orgs: dict[str, str] = field(default_factory=dict)  # kvk -> name
    products: set[str] = field(default_factory=set)
    accounts: list[tuple[str, str | None, str]] = field(default_factory=list)  # email, org, status
    grants: Iterable[tuple[str, str, str]] = ()  # email, afnemer, product
    contracts: list[tuple[str, str, date, date | None]] = field(default_factory=list)
    mandates: list[tuple[str, str, date, date | None, list[str] | None]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # sha256 of key -> client name


def _span(valid_from: date | str, valid_until: date | str | None) -> tuple[int, int]:
    start = date.fromisoformat(valid_from) if isinstance(valid_from, str) else valid_from
    end = date.fromisoformat(valid_until) if isinstance(valid_until, str) else valid_until
    return start.toordinal(), end.toordinal() if end else OPEN_END


class Decider:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.revision = -1
        self.orgs: dict[str, str] = {}
        self.products: set[str] = set()
        self.keys: dict[str, str] = {}
        self._accounts: dict[str, tuple[str | None, bool]] = {}  # email -> (org, active)
        self._grants: dict[str, dict[str, tuple[str, ...]]] = {}  # email -> product -> afnemers (sorted)
        self._holders: dict[str, dict[str, set[str]]] = {}  # product -> afnemer -> emails
        self._contracts: dict[tuple[str, str], tuple[int, int]] = {}  # (afnemer, product) -> span
        # (intermediair, afnemer) -> (span, products or None for all)
        self._mandates: dict[tuple[str, str], tuple[int, int, frozenset[str] | None]] = {}

    # -- loading and applying changes ---------------------------------------------------------------------------

    def load(self, snap: Snapshot) -> None:
        """Replace everything with ``snap`` (start-up, or catching up from too far behind)."""
        fresh = Decider(self.clock)
        fresh.orgs = dict(snap.orgs)
        fresh.products = set(snap.products)
        fresh.keys = dict(snap.keys)
        fresh._accounts = {email: (org, status == "active") for email, org, status in snap.accounts}
        grants = fresh._grants
        holders = fresh._holders
        for email, afnemer, product in snap.grants:
            by_product = grants.get(email)
            if by_product is None:
                by_product = grants[email] = {}
            current = by_product.get(product)
            by_product[product] = (afnemer,) if current is None else tuple(sorted((*current, afnemer)))
            holders.setdefault(product, {}).setdefault(afnemer, set()).add(email)
        fresh._contracts = {(a, p): _span(f, u) for a, p, f, u in snap.contracts}
        fresh._mandates = {
            (i, a): (*_span(f, u), frozenset(ps) if ps is not None else None) for a, i, f, u, ps in snap.mandates
        }
        # Swap in one go: a check running beside this sees the old index or the new one.
        for name in ("orgs", "products", "keys", "_accounts", "_grants", "_holders", "_contracts", "_mandates"):
            setattr(self, name, getattr(fresh, name))
        self.revision = snap.revision

    def apply(self, revision: int, events: Iterable[dict[str, Any]]) -> bool:
        """Apply one revision's events. False when it cannot be applied in place (the caller reloads)."""
        if revision != self.revision + 1:
            raise ValueError(f"revision {revision} does not follow {self.revision}")
        for ev in events:
            if not self._apply_one(ev):
                return False
        self.revision = revision
        return True

    def _apply_one(self, ev: dict[str, Any]) -> bool:
        kind = ev["t"]
        if kind == "account":
            self._accounts[ev["email"]] = (ev["org"], ev["status"] == "active")
        elif kind == "account_removed":
            self._accounts.pop(ev["email"], None)
            for product, afnemers in self._grants.pop(ev["email"], {}).items():
                for afnemer in afnemers:
                    self._holders.get(product, {}).get(afnemer, set()).discard(ev["email"])
        elif kind == "grants":
            self._set_grants(ev["email"], ev["afnemer"], set(ev["products"]))
        elif kind == "contract":
            key = (ev["afnemer"], ev["product"])
            if ev.get("valid_from") is None:
                self._contracts.pop(key, None)
            else:
                self._contracts[key] = _span(ev["valid_from"], ev.get("valid_until"))
        elif kind == "mandate":
            mkey = (ev["intermediair"], ev["afnemer"])
            if ev.get("valid_from") is None:
                self._mandates.pop(mkey, None)
            else:
                ps = ev.get("products")
                self._mandates[mkey] = (*_span(ev["valid_from"], ev.get("valid_until")),
                                        frozenset(ps) if ps is not None else None)
        elif kind == "product":
            self.products.add(ev["code"])
        elif kind == "org":
            self.orgs[ev["kvk"]] = ev["name"]
        elif kind == "key":
            if ev.get("active", True):
                self.keys[ev["hash"]] = ev["name"]
            else:
                self.keys.pop(ev["hash"], None)
        elif kind == "reload":
            return False
        # Unknown kinds come from a newer version of the service: reload rather than guess.
        else:
            return False
        return True

    def _set_grants(self, email: str, afnemer: str, products: set[str]) -> None:
        by_product = self._grants.setdefault(email, {})
        for product in list(by_product):
            if product not in products and afnemer in by_product[product]:
                rest = tuple(a for a in by_product[product] if a != afnemer)
                if rest:
                    by_product[product] = rest
                else:
                    del by_product[product]
                self._holders.get(product, {}).get(afnemer, set()).discard(email)
        for product in products:
            current = by_product.get(product, ())
            if afnemer not in current:
                by_product[product] = tuple(sorted((*current, afnemer)))
                self._holders.setdefault(product, {}).setdefault(afnemer, set()).add(email)
        if not by_product:
            del self._grants[email]

    # -- decisions ----------------------------------------------------------------------------------------------

    def check(self, user: str, product: str, afnemer: str | None = None) -> Decision:
        """R1 for ``user`` (lower-case e-mail) and ``product``, for one afnemer or for any."""
        revision = self.revision
        account = self._accounts.get(user)
        if account is None:
            return Decision(False, Reason.UNKNOWN_USER, (), revision)
        org, active = account
        if not active:
            return Decision(False, Reason.INACTIVE_USER, (), revision)
        if product not in self.products:
            return Decision(False, Reason.UNKNOWN_PRODUCT, (), revision)
        by_product = self._grants.get(user)
        held = by_product.get(product, ()) if by_product is not None else ()
        if afnemer is not None:
            held = (afnemer,) if afnemer in held else ()
        if not held:
            return Decision(False, Reason.NO_GRANT, (), revision)
        today = self.clock.today_ordinal()
        allowed: list[str] = []
        best = Reason.NO_GRANT
        for a in held:
            stage = self._stage(org, a, product, today)
            if stage is Reason.GRANTED:
                allowed.append(a)
            elif _STAGE[stage] > _STAGE[best]:
                best = stage
        if allowed:
            return Decision(True, Reason.GRANTED, tuple(allowed), revision)
        return Decision(False, best, (), revision)

    def _stage(self, org: str | None, afnemer: str, product: str, today: int) -> Reason:
        span = self._contracts.get((afnemer, product))
        if span is None or not span[0] <= today <= span[1]:
            return Reason.NO_CONTRACT
        if org == afnemer:
            return Reason.GRANTED
        mandate = self._mandates.get((org, afnemer)) if org is not None else None
        if mandate is None or not mandate[0] <= today <= mandate[1]:
            return Reason.NO_MANDATE
        if mandate[2] is not None and product not in mandate[2]:
            return Reason.NO_MANDATE
        return Reason.GRANTED

    def products_of(self, user: str) -> list[tuple[str, str]]:
        """Every (product, afnemer) ``user`` may view now, sorted."""
        out: list[tuple[str, str]] = []
        for product in sorted(self._grants.get(user, {})):
            out.extend((product, a) for a in self.check(user, product).afnemers)
        return out

    def users_of(self, product: str, afnemer: str | None = None, after: tuple[str, str] | None = None
                 ) -> Iterator[tuple[str, str]]:
        """Every (user, afnemer) that may view ``product`` now, in (user, afnemer) order, after ``after``."""
        by_afnemer = self._holders.get(product, {})
        afnemers = [afnemer] if afnemer is not None else list(by_afnemer)
        pairs = sorted((u, a) for a in afnemers for u in by_afnemer.get(a, ()))
        for user, a in pairs:
            if after is not None and (user, a) <= after:
                continue
            if self.check(user, product, a).allowed:
                yield user, a

    # -- facts for the API's validation and the admin screens -----------------------------------------------------

    def account(self, user: str) -> tuple[str | None, bool] | None:
        return self._accounts.get(user)

    def contract_valid(self, afnemer: str, product: str, today: int | None = None) -> bool:
        span = self._contracts.get((afnemer, product))
        day = self.clock.today_ordinal() if today is None else today
        return span is not None and span[0] <= day <= span[1]

    def stats(self) -> dict[str, int]:
        return {
            "accounts": len(self._accounts),
            "grants": sum(len(a) for ps in self._grants.values() for a in ps.values()),
            "contracts": len(self._contracts),
            "mandates": len(self._mandates),
            "products": len(self.products),
            "organisations": len(self.orgs),
        }
