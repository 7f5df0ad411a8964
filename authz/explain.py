"""Why a decision came out as it did: the chain behind a /v1/check answer, in data and in one sentence per language.

The chain is built from three independent sources that must tell the same story: the decider's answer (memory),
the domain facts (SQL, :mod:`authz.store.evidence`) and Casbin's own evaluation of the lines in ``casbin_rule``
read through its adapter (:mod:`authz.store.rules`, :class:`authz.policy.Reference`). When Casbin and the decider
disagree the answer says so and carries both; the caller logs it as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from authz.clock import AMSTERDAM
from authz.decider import Decision
from authz.domain.state import Contr, Mand
from authz.domain.window import covers, holds
from authz.policy import OPERATOR_SCOPE, Line, Reference, Verdict
from authz.store import evidence as evidence_store
from authz.store import rules
from authz.store.db import Database
from authz.store.evidence import Evidence

_MONTHS_NL = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
              "november", "december")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
_STATUS_NL = {"approved": "goedgekeurd maar nog niet geactiveerd", "inactive": "gedeactiveerd"}
_STATUS_EN = {"approved": "approved but not yet activated", "inactive": "deactivated"}


@dataclass(frozen=True)
class Gathered:
    """What SQL and Casbin say about one question, at one revision."""

    evidence: Evidence
    lines: list[Line]
    consistent: bool  # the facts and the Casbin lines were read at the same revision
    verdict: Verdict
    enforced: dict[str, tuple[bool, Line | None]]  # afnemer -> Casbin's enforce_ex
    afnemer: str | None = None  # the afnemer asked about (None: any)


def gather(db: Database, user: str, product: str, afnemer: str | None, day: date) -> Gathered:
    """Read the facts and the Casbin lines and let Casbin decide (blocking: run it in a worker thread).

    Unknown users, products and afnemers never reach the engine.
    """
    before = db.revision()
    ev = evidence_store.read(db, user, product, afnemer)
    account = (ev.account[1], ev.account[2]) if ev.account is not None else None
    # Lines are read only for a known account and product: SQL filters, not the engine, see these strings.
    known = account is not None and ev.product_name is not None
    lines = rules.lines_for(db, user, account[0], product, afnemer) if known and account is not None else []
    consistent = before == ev.revision == db.revision()
    reference = Reference(lines)
    verdict = reference.decide(user, product, afnemer, day, account=account, product_known=ev.product_name is not None,
                               afnemer_known=afnemer is None or afnemer in ev.org_names)
    scope = account[0] if account is not None and account[0] is not None else OPERATOR_SCOPE
    enforced = {a: reference.enforce_ex(user, scope, a, product, day) for a, _ in verdict.stages}
    return Gathered(ev, lines, consistent, verdict, enforced, afnemer)


def agrees(decision: Decision, verdict: Verdict) -> bool:
    return (decision.allowed, decision.reason.value, decision.afnemers) == (
        verdict.allowed, verdict.reason, verdict.afnemers)


# -- the answer ------------------------------------------------------------------------------------------------------

def _window(w: Contr | Mand, day: date) -> dict[str, Any]:
    return {"valid_from": w.valid_from.isoformat(), "valid_until": w.valid_until.isoformat() if w.valid_until else None,
            "valid_today": holds(w.valid_from, w.valid_until, day)}


def _lines_for(lines: list[Line], afnemer: str, product: str) -> list[list[str]]:
    wanted = {f"{afnemer}/{product}", f"{afnemer}/*"}
    return [list(line) for line in lines
            if (line[0] == "p" and line[2] == afnemer) or line[0] == "g"
            or (line[0] in ("g2", "g3") and line[2] in wanted)]


def _link(g: Gathered, afnemer: str, day: date) -> dict[str, Any]:
    ev = g.evidence
    org = ev.account[1] if ev.account is not None else None
    grant = ev.grants.get(afnemer)
    contract = ev.contracts.get(afnemer)
    mandate = ev.mandates.get(afnemer)
    stage = dict(g.verdict.stages).get(afnemer)
    enforced = g.enforced.get(afnemer)
    return {
        "afnemer": {"kvk": afnemer, "name": ev.org_names.get(afnemer)},
        "outcome": stage.reason if stage is not None else None,  # None: the engine was not asked
        "grant": {"granted_by": grant.granted_by, "granted_at": grant.granted_at.isoformat()} if grant else None,
        "contract": _window(contract, day) if contract else None,
        "mandate_required": org != afnemer,
        "mandate": ({"intermediair": org, "products": list(mandate.products) if mandate.products is not None else None,
                     "covers_product": covers(mandate.products, ev.product), **_window(mandate, day)}
                    if mandate is not None and org != afnemer else None),
        "policy_lines": _lines_for(g.lines, afnemer, ev.product),
        # None when the engine was not asked (unknown or inactive account, unknown product: R13 before R1).
        "enforce_ex": ({"allowed": enforced[0], "matched": list(enforced[1]) if enforced[1] else None}
                       if enforced is not None else None),
    }


def answer(decision: Decision, g: Gathered, day: date) -> dict[str, Any]:
    """The JSON answer of /v1/explain."""
    ev = g.evidence
    # Casbin's afnemers and SQL's: should one side hold a grant the other lacks, the chain shows both.
    relevant = sorted({a for a, _ in g.verdict.stages} | set(ev.grants))
    body: dict[str, Any] = {
        "allowed": decision.allowed, "reason": decision.reason.value, "afnemers": list(decision.afnemers),
        "revision": decision.revision, "day": day.isoformat(),
        "user": ({"email": ev.user, "name": ev.account[0], "org": ev.account[1], "status": ev.account[2]}
                 if ev.account is not None else None),
        "product": {"code": ev.product, "name": ev.product_name} if ev.product_name is not None else None,
        "chain": [_link(g, a, day) for a in relevant],
        "reference": {"allowed": g.verdict.allowed, "reason": g.verdict.reason, "afnemers": list(g.verdict.afnemers),
                      "revision": ev.revision, "agrees": agrees(decision, g.verdict)},
    }
    nl, en = sentences(decision, g, day)
    body["explanation"] = {"nl": nl, "en": en}
    return body


# -- one sentence in Dutch, one in English ---------------------------------------------------------------------------

def _day_nl(d: date) -> str:
    return f"{d.day} {_MONTHS_NL[d.month - 1]} {d.year}"


def _day_en(d: date) -> str:
    return f"{d.day} {_MONTHS_EN[d.month - 1]} {d.year}"


def _local_day(at: datetime) -> date:
    # Stored instants are UTC (naive on SQLite); the day a beheerder saw was the Amsterdam one.
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(AMSTERDAM).date()


def _span_nl(w: Contr | Mand) -> str:
    if w.valid_until is None:
        return f"vanaf {_day_nl(w.valid_from)} zonder einddatum"
    return f"van {_day_nl(w.valid_from)} tot en met {_day_nl(w.valid_until)}"


def _span_en(w: Contr | Mand) -> str:
    if w.valid_until is None:
        return f"from {_day_en(w.valid_from)} with no end date"
    return f"from {_day_en(w.valid_from)} up to and including {_day_en(w.valid_until)}"


def _join(names: list[str], last: str) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def _mandate_scope(m: Mand, nl: bool) -> str:
    if m.products is None:
        return "alle producten" if nl else "all products"
    if not m.products:
        return "geen enkel product" if nl else "no product at all"
    return _join(list(m.products), "en" if nl else "and")


def sentences(decision: Decision, g: Gathered, day: date) -> tuple[str, str]:
    ev = g.evidence
    product = ev.product_name or ev.product
    if ev.account is None:
        return (f"{ev.user} is geen bekend account en mag daarom {product} niet bekijken.",
                f"{ev.user} is not a known account, so it may not view {product}.")
    name, org, status = ev.account
    who = name or ev.user
    if decision.reason.value == "inactive_user":
        return (f"{who} mag {product} niet bekijken: het account is {_STATUS_NL.get(status, status)}.",
                f"{who} may not view {product}: the account is {_STATUS_EN.get(status, status)}.")
    if ev.product_name is None:
        return (f"{who} mag '{ev.product}' niet bekijken: er bestaat geen product met die code.",
                f"{who} may not view '{ev.product}': no product has that code.")

    def org_name(kvk: str | None) -> str:
        return ev.org_names.get(kvk, kvk) if kvk is not None else "(geen organisatie)"

    if decision.reason.value == "unknown_afnemer":
        return (f"{who} mag {product} niet bekijken namens KvK-nummer {g.afnemer}: er is geen organisatie met dat "
                f"KvK-nummer.",
                f"{who} may not view {product} on behalf of KvK number {g.afnemer}: no organisation has that "
                f"number.")

    if decision.allowed:
        first = decision.afnemers[0]
        names = _join([org_name(a) for a in decision.afnemers], "en")
        names_en = _join([org_name(a) for a in decision.afnemers], "and")
        grant, contract, mandate = ev.grants.get(first), ev.contracts.get(first), ev.mandates.get(first)
        nl_parts, en_parts = [], []
        if grant is not None:
            nl_parts.append(f"{grant.granted_by} heeft het op {_day_nl(_local_day(grant.granted_at))} gekoppeld")
            en_parts.append(f"{grant.granted_by} linked it on {_day_en(_local_day(grant.granted_at))}")
        if contract is not None:
            nl_parts.append(f"het contract van {org_name(first)} loopt {_span_nl(contract)}")
            en_parts.append(f"the contract of {org_name(first)} runs {_span_en(contract)}")
        nl = f"{who} mag {product} bekijken namens {names}: {', '.join(nl_parts)}"
        en = f"{who} may view {product} on behalf of {names_en}: {', '.join(en_parts)}"
        if mandate is not None and org != first:
            nl += (f" en {org_name(org)} heeft een opdracht van {org_name(first)} voor "
                   f"{_mandate_scope(mandate, True)} ({_span_nl(mandate)})")
            en += (f" and {org_name(org)} holds a mandate from {org_name(first)} for "
                   f"{_mandate_scope(mandate, False)} ({_span_en(mandate)})")
        return nl + ".", en + "."

    reason = decision.reason.value
    # The afnemer that got furthest names the denial, as the reason code does.
    at = next((a for a, st in g.verdict.stages if st.reason == reason), None)
    for_nl = f" namens {org_name(at)}" if at is not None else ""
    for_en = f" on behalf of {org_name(at)}" if at is not None else ""
    head_nl, head_en = f"{who} mag {product} niet bekijken{for_nl}", f"{who} may not view {product}{for_en}"
    if reason == "no_grant" or at is None:
        return (f"{head_nl}: geen beheerder heeft {product} aan dit account gekoppeld.",
                f"{head_en}: no beheerder has linked {product} to this account.")
    if reason == "no_contract":
        contract = ev.contracts.get(at)
        detail_nl = f"het contract loopt {_span_nl(contract)}" if contract else "er is geen contract"
        detail_en = f"the contract runs {_span_en(contract)}" if contract else "there is no contract"
        return (f"{head_nl}: {org_name(at)} heeft op {_day_nl(day)} geen geldig contract voor {product} "
                f"({detail_nl}).",
                f"{head_en}: {org_name(at)} holds no contract for {product} valid on {_day_en(day)} ({detail_en}).")
    mandate = ev.mandates.get(at)
    if mandate is None:
        detail_nl, detail_en = "er is geen opdracht", "there is no mandate"
    elif not holds(mandate.valid_from, mandate.valid_until, day):
        detail_nl, detail_en = f"de opdracht loopt {_span_nl(mandate)}", f"the mandate runs {_span_en(mandate)}"
    else:
        detail_nl = f"de opdracht geldt voor {_mandate_scope(mandate, True)}"
        detail_en = f"the mandate covers {_mandate_scope(mandate, False)}"
    return (f"{head_nl}: {org_name(org)} heeft op {_day_nl(day)} geen opdracht van {org_name(at)} die {product} "
            f"dekt ({detail_nl}).",
            f"{head_en}: {org_name(org)} holds no mandate from {org_name(at)} covering {product} on "
            f"{_day_en(day)} ({detail_en}).")
