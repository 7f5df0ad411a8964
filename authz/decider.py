"""Decisions from memory: R1 answered by dictionary lookups, no SQL and no scan of policy lines.

The index holds the same facts as the Casbin lines (see ``policy.conf``); ``tests/test_decider_equivalence.py``
proves with random worlds that :meth:`Decider.check` gives the answer and reason that Casbin gives.

Threading: the decider is read and written on the event loop thread only. Writes (:meth:`apply`, :meth:`load`)
run without yielding, so a check sees a revision wholly or not at all; reads never take a lock.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, assert_never

from authz.clock import Clock
from authz.domain.access import Reason
from authz.domain.access import stage as _stage
from authz.domain.window import LAPSED as _LAPSED
from authz.domain.window import span as _span
from authz.events import (
    AccountChanged,
    ContractEnded,
    ContractPut,
    Event,
    GrantsReplaced,
    KeyIssued,
    KeyRevoked,
    MandateEnded,
    MandatePut,
    OrganisationNamed,
    ProductCreated,
    Reload,
)

# How far a request got through R1: the furthest stage among an account's afnemers names a denial.
_STAGE = {Reason.NO_GRANT: 0, Reason.NO_CONTRACT: 1, Reason.NO_MANDATE: 2, Reason.GRANTED: 3}
# Module constants: the hot path reads them without an attribute lookup on the enum class.
_GRANTED, _NO_GRANT = Reason.GRANTED, Reason.NO_GRANT
_UNKNOWN_USER, _INACTIVE_USER, _UNKNOWN_PRODUCT = Reason.UNKNOWN_USER, Reason.INACTIVE_USER, Reason.UNKNOWN_PRODUCT
_UNKNOWN_AFNEMER = Reason.UNKNOWN_AFNEMER


class Decision(NamedTuple):
    """A decision is a value with a reason (a named tuple: built in a fraction of a dataclass's time)."""

    allowed: bool
    reason: Reason
    afnemers: tuple[str, ...]
    revision: int


# A validity cell: the span [first day, last day] (ordinals, authz.domain.window) of a contract, or [first, last,
# products or None] of a mandate.
# One cell per (afnemer, product) and per (intermediair, afnemer), changed in place: every grant that rests on it
# holds a reference, so a contract change reaches them all without a lookup at check time.
_Cell = list[Any]
# What a grant rests on: (afnemer, contract cell, mandate cell or None for the account's own organisation,
# (afnemer,) ready for the answer). One entry object per (afnemer, product, intermediair), shared by every grant.
_Entry = tuple[str, _Cell, _Cell | None, tuple[str]]
# An account in the index: (organisation or None, active?, the products it holds grants of, and for each of them, at
# the same place, the entries of its grants sorted by afnemer). Two tuples, not a dict: an account holds a few
# products, and a tuple of three costs 64 bytes where a dict costs 184 (at millions of accounts, hundreds of MB);
# finding the product among a few is a scan in C.
_User = tuple[str | None, bool, tuple[str, ...], tuple[tuple[_Entry, ...], ...]]
_NONE: tuple[Any, ...] = ()


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


class Decider:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.revision = -1
        self.orgs: dict[str, str] = {}
        self.products: set[str] = set()
        self.keys: dict[str, str] = {}
        # One lookup finds the account and its grants: the fewer lookups in dicts of a million entries, the
        # fewer cache misses per check.
        self._users: dict[str, _User] = {}
        # product -> afnemer -> the emails of the accounts holding a grant of it, sorted: a list costs 8 bytes an
        # account where a set costs 30 to 200, and the searches page through it in order without sorting.
        self._holders: dict[str, dict[str, list[str]]] = {}
        self._contracts: dict[tuple[str, str], _Cell] = {}  # (afnemer, product) -> [from, until]
        self._mandates: dict[tuple[str, str], _Cell] = {}  # (intermediair, afnemer) -> [from, until, products]
        self._entries: dict[tuple[str, str, str | None], tuple[_Entry]] = {}
        self._denials: dict[Reason, Decision] = {}
        self._set_revision(-1)

    def _set_revision(self, revision: int) -> None:
        self.revision = revision
        # Denials without afnemers are the same value for every request at one revision: made once.
        self._denials = {reason: Decision(False, reason, (), revision) for reason in Reason}

    # -- loading and applying changes ---------------------------------------------------------------------------

    def load(self, snap: Snapshot) -> None:
        """Replace everything with ``snap`` (start-up, or catching up from too far behind)."""
        fresh = Decider(self.clock)
        fresh.orgs = dict(snap.orgs)
        fresh.products = set(snap.products)
        fresh.keys = dict(snap.keys)
        for a, p, f, u in snap.contracts:
            fresh._contracts[(a, p)] = [*_span(f, u)]
        for a, i, f, u, ps in snap.mandates:
            fresh._mandates[(i, a)] = [*_span(f, u), frozenset(ps) if ps is not None else None]
        held: dict[str, dict[str, tuple[_Entry, ...]]] = {email: {} for email, _, _ in snap.accounts}
        org_of = {email: org for email, org, _ in snap.accounts}
        holders = fresh._holders
        for email, afnemer, product in snap.grants:
            by_product = held.get(email)
            if by_product is None:
                continue
            fresh._add_grant(by_product, org_of[email], afnemer, product)
            holders.setdefault(product, {}).setdefault(afnemer, []).append(email)
        fresh._users = {email: _user(org, status == "active", held.pop(email)) for email, org, status in snap.accounts}
        del org_of
        for by_afnemer in holders.values():
            for emails in by_afnemer.values():
                emails.sort()  # a grant is one row of (account, afnemer, product): no email twice
        # Swap in one go: a check running beside this sees the old index or the new one.
        for name in ("orgs", "products", "keys", "_users", "_holders", "_contracts", "_mandates", "_entries"):
            setattr(self, name, getattr(fresh, name))
        self._set_revision(snap.revision)

    def _cell(self, cells: dict[tuple[str, str], _Cell], key: tuple[str, str], mandate: bool) -> _Cell:
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [*_LAPSED, None] if mandate else [*_LAPSED]
        return cell

    def _entry(self, org: str | None, afnemer: str, product: str) -> tuple[_Entry]:
        """The shared one-entry tuple for a grant of ``product`` for ``afnemer`` held by an account of ``org``."""
        key = (afnemer, product, org)
        entry = self._entries.get(key)
        if entry is None:
            contract = self._cell(self._contracts, (afnemer, product), mandate=False)
            mandate = None
            if org != afnemer:
                # An account without an organisation (an operator) can hold no mandate: a cell that never opens.
                mandate = self._cell(self._mandates, (org, afnemer), mandate=True) if org is not None else [
                    *_LAPSED, None]
            entry = self._entries[key] = ((afnemer, contract, mandate, (afnemer,)),)
        return entry

    def _add_grant(self, by_product: dict[str, tuple[_Entry, ...]], org: str | None, afnemer: str,
                   product: str) -> None:
        current = by_product.get(product)
        entry = self._entry(org, afnemer, product)
        if current is None:
            by_product[product] = entry
        elif all(e[0] != afnemer for e in current):
            by_product[product] = tuple(sorted((*current, *entry), key=lambda e: e[0]))

    def apply(self, revision: int, events: Iterable[Event]) -> bool:
        """Apply one revision's events. False when it cannot be applied in place (the caller reloads)."""
        if revision != self.revision + 1:
            raise ValueError(f"revision {revision} does not follow {self.revision}")
        for ev in events:
            match ev:
                case GrantsReplaced():
                    if ev.email not in self._users:
                        return False  # grants of an account this index does not know: reload rather than guess
                    self._set_grants(ev.email, ev.afnemer, set(ev.products))
                case ContractPut():
                    cell = self._cell(self._contracts, (ev.afnemer, ev.product), mandate=False)
                    cell[0], cell[1] = _span(ev.valid_from, ev.valid_until)
                case ContractEnded():
                    cell = self._cell(self._contracts, (ev.afnemer, ev.product), mandate=False)
                    cell[0], cell[1] = _LAPSED
                case MandatePut():
                    cell = self._cell(self._mandates, (ev.intermediair, ev.afnemer), mandate=True)
                    cell[0], cell[1] = _span(ev.valid_from, ev.valid_until)
                    cell[2] = frozenset(ev.products) if ev.products is not None else None
                case MandateEnded():
                    cell = self._cell(self._mandates, (ev.intermediair, ev.afnemer), mandate=True)
                    cell[0], cell[1], cell[2] = *_LAPSED, None
                case AccountChanged():
                    user = self._users.get(ev.email)
                    if user is not None and user[0] != ev.org:
                        return False  # grants rest on the organisation's mandates: rebuild rather than patch
                    self._users[ev.email] = (ev.org, ev.status == "active", *(user[2:] if user is not None
                                                                              else (_NONE, _NONE)))
                case ProductCreated():
                    self.products.add(ev.code)
                case OrganisationNamed():
                    self.orgs[ev.kvk] = ev.name
                case KeyIssued():
                    self.keys[ev.hash] = ev.name
                case KeyRevoked():
                    self.keys.pop(ev.hash, None)
                case Reload():
                    return False
                case _:
                    assert_never(ev)
        self._set_revision(revision)
        return True

    def _set_grants(self, email: str, afnemer: str, products: set[str]) -> None:
        user = self._users[email]
        by_product = dict(zip(user[2], user[3], strict=True))
        for product in list(by_product):
            entries = by_product[product]
            if product not in products and any(e[0] == afnemer for e in entries):
                rest = tuple(e for e in entries if e[0] != afnemer)
                if rest:
                    by_product[product] = rest
                else:
                    del by_product[product]
                _discard(self._holders.get(product, {}).get(afnemer, []), email)
        for product in products:
            self._add_grant(by_product, user[0], afnemer, product)
            _insert(self._holders.setdefault(product, {}).setdefault(afnemer, []), email)
        self._users[email] = _user(user[0], user[1], by_product)

    # -- decisions ----------------------------------------------------------------------------------------------

    def check(self, user: str, product: str, afnemer: str | None = None, day: int | None = None) -> Decision:
        """R1 for ``user`` (lower-case e-mail) and ``product``, for one afnemer or for any: today, or on the day with
        ordinal ``day`` (today's accounts and grants against that day's contracts and mandates). R13 names the
        first unknown in the order of the question: the user (then whether it is active), the product, the
        afnemer."""
        found = self._users.get(user)
        if found is None:
            return self._denials[_UNKNOWN_USER]
        if not found[1]:
            return self._denials[_INACTIVE_USER]
        if product not in self.products:
            return self._denials[_UNKNOWN_PRODUCT]
        if afnemer is not None and afnemer not in self.orgs:
            return self._denials[_UNKNOWN_AFNEMER]
        held = found[2]
        if product not in held:
            return self._denials[_NO_GRANT]
        entries = found[3][held.index(product)]
        today = self.clock.today_ordinal() if day is None else day
        if len(entries) == 1 or afnemer is not None:
            for entry in entries:
                if afnemer is None or entry[0] == afnemer:
                    stage = _stage(entry[1], entry[2], product, today)
                    if stage is _GRANTED:
                        return Decision(True, _GRANTED, entry[3], self.revision)
                    return self._denials[stage]
            return self._denials[_NO_GRANT]
        allowed: list[str] = []
        best = _NO_GRANT
        for entry in entries:
            stage = _stage(entry[1], entry[2], product, today)
            if stage is _GRANTED:
                allowed.append(entry[0])
            elif _STAGE[stage] > _STAGE[best]:
                best = stage
        if allowed:
            return Decision(True, _GRANTED, tuple(allowed), self.revision)
        return self._denials[best]

    def products_of(self, user: str) -> list[tuple[str, str]]:
        """Every (product, afnemer) ``user`` may view now, sorted."""
        out: list[tuple[str, str]] = []
        found = self._users.get(user)
        for product in sorted(found[2] if found is not None else ()):  # the products it holds grants of
            out.extend((product, a) for a in self.check(user, product).afnemers)
        return out

    def users_of(self, product: str, afnemer: str | None = None, after: tuple[str, str] | None = None
                 ) -> Iterator[tuple[str, str]]:
        """Every (user, afnemer) that may view ``product`` now, in (user, afnemer) order, after ``after``."""
        by_afnemer = self._holders.get(product, {})
        afnemers = [afnemer] if afnemer is not None else sorted(by_afnemer)
        # Each afnemer's holders are sorted already: start each after ``after`` and merge them in (user, afnemer)
        # order, lazily, so that a page costs what it shows, not a sort of every holder.
        runs = [_after(by_afnemer.get(a, []), a, after) for a in afnemers]
        for user, a in runs[0] if len(runs) == 1 else heapq.merge(*runs):
            if self.check(user, product, a).allowed:
                yield user, a

    # -- facts for the API's validation and the admin screens -----------------------------------------------------

    def account(self, user: str) -> tuple[str | None, bool] | None:
        """(organisation, active?) of a known account."""
        found = self._users.get(user)
        return (found[0], found[1]) if found is not None else None

    def stats(self) -> dict[str, int]:
        # tuple(...) copies each dict's values in one step of C, under the GIL: a generator walking the dict itself
        # would raise 'dictionary changed size' when a thread reads while the loop applies a change.
        return {
            "accounts": len(self._users),
            "grants": sum(len(a) for user in tuple(self._users.values()) for a in user[3]),
            "contracts": sum(1 for c in tuple(self._contracts.values()) if c[0] <= c[1]),
            "mandates": sum(1 for m in tuple(self._mandates.values()) if m[0] <= m[1]),
            "products": len(self.products),
            "organisations": len(self.orgs),
        }


def _user(org: str | None, active: bool, by_product: dict[str, tuple[_Entry, ...]]) -> _User:
    """An account as the index keeps it (see :data:`_User`)."""
    return (org, active, tuple(by_product), tuple(by_product.values())) if by_product else (org, active, _NONE,
                                                                                             _NONE)


def _insert(emails: list[str], email: str) -> None:
    """Add ``email`` to the sorted list, once."""
    i = bisect.bisect_left(emails, email)
    if i == len(emails) or emails[i] != email:
        emails.insert(i, email)


def _discard(emails: list[str], email: str) -> None:
    """Remove ``email`` from the sorted list, if there."""
    i = bisect.bisect_left(emails, email)
    if i < len(emails) and emails[i] == email:
        del emails[i]


def _after(emails: list[str], afnemer: str, after: tuple[str, str] | None) -> Iterator[tuple[str, str]]:
    """(email, afnemer) of the sorted ``emails`` that come after ``after`` in (user, afnemer) order."""
    start = 0
    if after is not None:
        start = bisect.bisect_left(emails, after[0])
        if start < len(emails) and emails[start] == after[0] and afnemer <= after[1]:
            start += 1
    for i in range(start, len(emails)):
        yield emails[i], afnemer
