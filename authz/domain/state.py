"""The policy state as plain values: what a policy file holds, what the database holds, what the audit trail held.

One :class:`PolicyState` is read from the tables (:func:`authz.store.policystate.current`), rebuilt from
the audit trail up to a moment (:func:`authz.store.policystate.replay`, with :func:`apply_record`), or parsed
from a file (:mod:`authz.policyfile.parse`); export, import, diff and lint all compare or render these values, so
the three sources cannot drift apart. No password hash or token is ever part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Org:
    kvk: str
    name: str
    status: str
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prod:
    code: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Contr:
    afnemer: str
    product: str
    valid_from: date
    valid_until: date | None


@dataclass(frozen=True)
class Mand:
    afnemer: str
    intermediair: str
    valid_from: date
    valid_until: date | None
    products: tuple[str, ...] | None  # None: every product of the afnemer


@dataclass(frozen=True)
class GrantRec:
    """A grant with its provenance: who ticked it and when (R12)."""

    granted_by: str
    granted_at: datetime


@dataclass(frozen=True)
class Acct:
    email: str
    name: str
    org: str | None  # None for an operator
    status: str
    roles: tuple[str, ...] = ()


@dataclass
class PolicyState:
    """Everything that decides access, keyed for comparison. ``scope`` is None for the whole state, else a KvK."""

    scope: str | None = None
    orgs: dict[str, Org] = field(default_factory=dict)
    products: dict[str, Prod] = field(default_factory=dict)
    contracts: dict[tuple[str, str], Contr] = field(default_factory=dict)  # (afnemer, product)
    mandates: dict[tuple[str, str], Mand] = field(default_factory=dict)  # (afnemer, intermediair)
    accounts: dict[str, Acct] = field(default_factory=dict)
    grants: dict[tuple[str, str, str], GrantRec] = field(default_factory=dict)  # (email, afnemer, product)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# -- the audit trail, one record at a time ---------------------------------------------------------------------

def apply_record(st: PolicyState, when: datetime, actor: str, action: str, subject: str, before: Any,
                 after: Any) -> None:
    """Apply one audit record to ``st``. Records about other things (requests, keys, sessions), and records about
    an account that carry no full view of it (a password set, an activation link sent), change nothing."""
    kind, _, key = subject.partition(":")
    if kind == "account" and action == "grants.replace":
        _replay_grants(st, when, actor, key, after)
        return
    # Only a full view changes the state; "after" None with a full "before" removes the thing.
    view = after if _full(after, _VIEWS.get(kind, ())) else None
    if view is None and not (after is None and _full(before, _VIEWS.get(kind, ()))):
        return
    if kind == "organisation":
        _put(st.orgs, key, view and Org(view["kvk"], view["name"], view["status"],
                                        tuple(sorted(view.get("domains") or ()))))
    elif kind == "product":
        _put(st.products, key, view and Prod(view["code"], view["name"], view.get("description") or ""))
    elif kind == "contract":
        afnemer, _, product = key.partition("/")
        _put(st.contracts, (afnemer, product), view and Contr(
            afnemer, product, date.fromisoformat(view["valid_from"]), _day(view.get("valid_until"))))
    elif kind == "mandate":
        afnemer, _, intermediair = key.partition("/")
        ps = view.get("products") if view else None
        _put(st.mandates, (afnemer, intermediair), view and Mand(
            afnemer, intermediair, date.fromisoformat(view["valid_from"]), _day(view.get("valid_until")),
            tuple(sorted(ps)) if ps is not None else None))
    elif kind == "account":
        _put(st.accounts, key, view and Acct(key, view.get("name") or "", view.get("org"), view["status"],
                                             tuple(sorted(view.get("roles") or ()))))
        if view is None:  # an account removed: its grants went with it (ON DELETE CASCADE)
            st.grants = {k: g for k, g in st.grants.items() if k[0] != key}


# The keys of the full view each kind of record carries (authz.store.catalogue and authz.store.accounts).
_VIEWS = {"organisation": ("kvk", "name", "status"), "product": ("code", "name"),
          "contract": ("afnemer", "product", "valid_from"), "mandate": ("afnemer", "intermediair", "valid_from"),
          "account": ("email", "status")}


def _full(value: Any, keys: tuple[str, ...]) -> bool:
    return bool(keys) and isinstance(value, dict) and all(k in value for k in keys)


def _put(table: dict[Any, Any], key: Any, value: Any) -> None:
    if value:
        table[key] = value
    else:
        table.pop(key, None)


def _replay_grants(st: PolicyState, when: datetime, actor: str, email: str, after: dict[str, Any]) -> None:
    afnemer = after["afnemer"]
    wanted = set(after["products"])
    provenance = after.get("granted") or {}
    for k in [k for k in st.grants if k[0] == email and k[1] == afnemer and k[2] not in wanted]:
        del st.grants[k]
    for product in sorted(wanted):
        if (email, afnemer, product) not in st.grants:
            given = provenance.get(product)
            st.grants[(email, afnemer, product)] = (
                GrantRec(given["by"], datetime.fromisoformat(given["at"])) if given else GrantRec(actor, when))


