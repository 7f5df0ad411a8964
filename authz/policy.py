"""The only module that touches the Casbin engine.

Casbin is the policy language and the reference evaluator: ``policy.conf`` says the rule, the lines in
``casbin_rule`` (and ``authz/policies/roles.csv``) are the facts. The hot path of /v1/check does not call Casbin (its
``enforce`` scans every policy line): :mod:`authz.decider` answers from an index, and tests
prove that it decides exactly as :class:`Reference` does here.

Every engine built here is private to one call or guarded by a lock; no client-supplied string reaches an engine
before it has been validated against the known accounts, organisations and products.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import casbin
from casbin.core_enforcer import EnforceContext
from casbin.model import Model

from authz.domain.window import holds

ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = ROOT / "policy.conf"
POLICIES_DIR = Path(__file__).resolve().parent / "policies"
OPERATOR_SCOPE = "*"

Line = tuple[str, ...]  # (ptype, v0, v1, ...)


def day_in_window(day: str, window: str) -> bool:
    """The domain matching function of g2/g3: ISO day inside ``FROM..UNTIL`` (UNTIL empty: open-ended), by the
    window rule of :func:`authz.domain.window.holds`."""
    start, sep, end = window.partition("..")
    return bool(sep) and holds(date.fromisoformat(start), date.fromisoformat(end) if end else None,
                               date.fromisoformat(day))


def window(valid_from: date, valid_until: date | None) -> str:
    return f"{valid_from.isoformat()}..{valid_until.isoformat() if valid_until else ''}"


# The Casbin lines of each fact. authz.store.projection writes them; Reference reads them.
def grant_line(email: str, afnemer: str, product: str) -> Line:
    return ("p", email, afnemer, product)


def role_line(email: str, role: str, org: str | None) -> Line:
    return ("g", email, role, org if org is not None else OPERATOR_SCOPE)


def account_lines(email: str, org: str | None, status: str, roles: Iterable[str] = ()) -> list[Line]:
    """The role lines of an account: "active" while its status is active (R1, R8), plus one per role it holds."""
    out = [role_line(email, "active", org)] if status == "active" else []
    return out + [role_line(email, r, org) for r in sorted(roles)]


def contract_line(afnemer: str, product: str, valid_from: date, valid_until: date | None) -> Line:
    return ("g2", afnemer, f"{afnemer}/{product}", window(valid_from, valid_until))


def mandate_lines(afnemer: str, intermediair: str, products: Sequence[str] | None, valid_from: date,
                  valid_until: date | None) -> list[Line]:
    w = window(valid_from, valid_until)
    targets = ["*"] if products is None else sorted(products)
    return [("g3", intermediair, f"{afnemer}/{p}", w) for p in targets]


def static_lines() -> list[Line]:
    """The reviewed permission lines of every ``*.csv`` in authz/policies."""
    lines: list[Line] = []
    for path in sorted(POLICIES_DIR.glob("*.csv")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            raw = raw.strip()
            if raw and not raw.startswith("#"):
                lines.append(tuple(part.strip() for part in raw.split(",")))
    return lines


_MODEL_TEXT: str | None = None


def model_text() -> str:
    global _MODEL_TEXT
    if _MODEL_TEXT is None:
        _MODEL_TEXT = MODEL_PATH.read_text(encoding="utf-8")
    return _MODEL_TEXT


def new_model() -> Model:
    """An empty model of ``policy.conf``: what the adapter loads lines into."""
    model = Model()
    model.load_model_from_text(model_text())
    return model


def lines_in(model: Model, ptypes: Iterable[str]) -> list[Line]:
    """The policy lines a model holds, of the given policy types."""
    out: list[Line] = []
    for ptype in ptypes:
        sec = "g" if ptype.startswith("g") else "p"
        out += [(ptype, *rule) for rule in model.get_policy(sec, ptype)]
    return out


def new_enforcer(lines: Iterable[Line] = ()) -> Any:
    """A fresh Casbin enforcer over ``policy.conf`` holding ``lines`` (and the static permission lines)."""
    model = new_model()
    enforcer = casbin.Enforcer(model)
    enforcer.add_named_domain_matching_func("g2", day_in_window)
    enforcer.add_named_domain_matching_func("g3", day_in_window)
    by_type: dict[str, list[list[str]]] = {}
    for line in [*static_lines(), *lines]:
        by_type.setdefault(line[0], []).append(list(line[1:]))
    for ptype, rules in by_type.items():
        # Straight into the model: the engine's add_*policies scans for duplicates line by line (facts file).
        sec = "g" if ptype.startswith("g") else "p"
        model.add_policies(sec, ptype, rules)
    enforcer.build_role_links()
    return enforcer


def _context(mtype: str) -> EnforceContext:
    return EnforceContext(rtype="r", ptype="p", etype="e", mtype=mtype)


@dataclass(frozen=True)
class Stage:
    """How far a (account, afnemer, product) request gets through R1 in the Casbin model."""

    reason: str  # no_grant | no_contract | no_mandate | granted
    line: Line | None  # the matched grant line, when there is one


# The reason codes of R1 in the order a request meets them; the stages of the engine after validation come last, and
# a denial "for any afnemer" names the furthest stage reached among the account's afnemers.
STAGES = ("no_grant", "no_contract", "no_mandate", "granted")


@dataclass(frozen=True)
class Verdict:
    """The reference's answer to one /v1/check question, with the stage reached for each afnemer considered."""

    allowed: bool
    reason: str
    afnemers: tuple[str, ...]
    stages: tuple[tuple[str, Stage], ...] = ()


class Reference:
    """R1 evaluated by Casbin itself over a set of lines: slow, obviously faithful, used to check the decider."""

    def __init__(self, lines: Iterable[Line]) -> None:
        lines = list(lines)
        self._enforcer = new_enforcer(lines)
        self._lock = threading.Lock()
        # (account, product) -> afnemers with a grant line: the only domains whose stage can pass no_grant (m3).
        self._granted: dict[tuple[str, str], set[str]] = {}
        for line in lines:
            if line[0] == "p" and len(line) == 4:
                self._granted.setdefault((line[1], line[3]), set()).add(line[2])

    def enforce_ex(self, user: str, org: str, afnemer: str, product: str, day: date) -> tuple[bool, Line | None]:
        """Matcher ``m`` of policy.conf, with the grant line that matched (Casbin's enforce_ex)."""
        with self._lock:
            ok, explain = self._enforcer.enforce_ex(user, org, afnemer, product, day.isoformat())
        return bool(ok), ("p", *explain) if ok else None

    def stage(self, user: str, org: str, afnemer: str, product: str, day: date) -> Stage:
        args = (user, org, afnemer, product, day.isoformat())
        with self._lock:
            ok, explain = self._enforcer.enforce_ex(*args)
            if ok:
                return Stage("granted", ("p", *explain))
            if not self._enforcer.enforce(_context("m3"), *args):
                return Stage("no_grant", None)
            if not self._enforcer.enforce(_context("m4"), *args):
                return Stage("no_contract", ("p", user, afnemer, product))
            return Stage("no_mandate", ("p", user, afnemer, product))

    def decide(self, user: str, product: str, afnemer: str | None, day: date, *,
               account: tuple[str | None, str] | None, product_known: bool, afnemer_known: bool) -> Verdict:
        """The whole /v1/check answer according to Casbin.

        ``account`` is the (organisation, status) of ``user`` from the accounts table, None when there is no such
        account; ``product_known`` says whether the products table holds ``product``, ``afnemer_known`` whether the
        organisations table holds ``afnemer`` (None: "any afnemer"). They are checked before the engine is asked,
        in the order /v1/check checks them (R13), so that no unknown name reaches the engine.
        """
        if account is None:
            return Verdict(False, "unknown_user", ())
        org, status = account
        if status != "active":
            return Verdict(False, "inactive_user", ())
        if not product_known:
            return Verdict(False, "unknown_product", ())
        if afnemer is not None and not afnemer_known:
            return Verdict(False, "unknown_afnemer", ())
        scope = org if org is not None else OPERATOR_SCOPE
        candidates = [afnemer] if afnemer is not None else sorted(self._granted.get((user, product), ()))
        stages = tuple((a, self.stage(user, scope, a, product, day)) for a in candidates)
        allowed = tuple(a for a, st in stages if st.reason == "granted")
        if allowed:
            return Verdict(True, "granted", allowed, stages)
        reason = max((st.reason for _, st in stages), key=STAGES.index, default="no_grant")
        return Verdict(False, reason, (), stages)

    def lines_of(self, ptype: str) -> list[Line]:
        sec = "g" if ptype.startswith("g") else "p"
        with self._lock:
            return [(ptype, *rule) for rule in self._enforcer.get_model().get_policy(sec, ptype)]

    def may(self, user: str, scope: str, action: str) -> bool:
        with self._lock:
            return bool(self._enforcer.enforce(EnforceContext("r2", "p2", "e2", "m2"), user, scope, action))


def permitted(role_lines: Iterable[Line], user: str, scope: str, action: str) -> bool:
    """R2 and the admin permissions: may ``user`` (holding ``role_lines``) perform ``action`` within ``scope``?

    The engine is built for this one question from the actor's own role lines, so nothing is shared between
    requests and no client string can grow it.
    """
    return bool(new_enforcer(role_lines).enforce(EnforceContext("r2", "p2", "e2", "m2"), user, scope, action))
