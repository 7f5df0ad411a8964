"""``authz policy lint``: what in the policy needs a human, each finding with a kind, a severity and a subject.

Whether a grant is inert is asked of the real decision logic (a :class:`authz.decider.Decider` holding the state),
not decided a second time here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from authz.clock import AMSTERDAM
from authz.domain import beheerders as r4
from authz.domain import grants, sentences
from authz.domain.access import Reason
from authz.domain.state import PolicyState
from authz.policyfile.model import decider_for
from authz.store import mine, policystate
from authz.store.db import Database

SEVERITIES = ("info", "warning", "error")
ACTIVATION_DAYS = 21  # R8: an activation link is valid for 21 days
ENDING_DAYS = 30


@dataclass(frozen=True, order=True)
class Finding:
    kind: str
    severity: str  # info | warning | error
    subject: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def at_least(self, severity: str) -> bool:
        return SEVERITIES.index(self.severity) >= SEVERITIES.index(severity)


def lint(db: Database, today: date) -> list[Finding]:
    """Every finding about the database's policy on ``today`` (a day in Europe/Amsterdam), sorted."""
    with db.read() as s:
        st = policystate.current(s)
        waiting = policystate.approved_since(s)
    return lint_state(st, today, waiting)


def lint_state(st: PolicyState, today: date, waiting: dict[str, datetime] | None = None) -> list[Finding]:
    """The findings of :func:`lint` for a state; ``waiting`` maps approved accounts to when they were made."""
    out = _grants(st, today) + _beheerders(st) + _ending(st, today)
    for email, since in sorted((waiting or {}).items()):
        days = (today - since.astimezone(AMSTERDAM).date()).days
        if days > ACTIVATION_DAYS:
            out.append(Finding("account_not_activated", "warning", f"account:{email}",
                               f"{email} was approved {days} days ago and has not activated the account (the link "
                               f"is valid {ACTIVATION_DAYS} days): send a new link or deactivate the account"))
    return sorted(out, key=lambda f: (-SEVERITIES.index(f.severity), f.kind, f.subject))


def _grants(st: PolicyState, today: date) -> list[Finding]:
    out: list[Finding] = []
    decider = decider_for(st, today, all_active=True)
    for (email, afnemer, product) in sorted(st.grants):
        subject = f"grant:{email}/{afnemer}/{product}"
        if st.accounts[email].status == "inactive":
            out.append(Finding("grant_to_inactive_account", "warning", subject,
                               f"{email} is deactivated but still holds {product} for {afnemer}: remove the grant"))
            continue
        reason = decider.check(email, product, afnemer).reason
        if reason is Reason.NO_CONTRACT:
            out.append(Finding("inert_grant", "warning", subject,
                               f"{email} holds {product} for {afnemer}, but {afnemer}'s contract for it is not "
                               f"valid today: the grant gives nothing until it is renewed or removed"))
        elif reason is Reason.NO_MANDATE:
            out.append(Finding("inert_grant", "warning", subject,
                               f"{email} holds {product} for {afnemer}, but {st.accounts[email].org} holds no "
                               f"mandate from {afnemer} valid today covering it: the grant gives nothing"))
    return out


def _beheerders(st: PolicyState) -> list[Finding]:
    out: list[Finding] = []
    for kvk, org in sorted(st.orgs.items()):
        members = [a for a in st.accounts.values() if a.org == kvk]
        active = r4.active(members)
        if r4.lacking(org.status == "verified", members):
            out.append(Finding("no_beheerder", "error", f"organisation:{kvk}",
                               f"{org.name} ({kvk}) has accounts but no active beheerder (R4)"))
        elif org.status == "verified" and r4.alone(active):
            out.append(Finding("single_beheerder", "info", f"organisation:{kvk}",
                               f"{org.name} ({kvk}) has one beheerder ({active[0]}): appoint a second (R4)"))
    return out


def _ending(st: PolicyState, today: date) -> list[Finding]:
    horizon = today + timedelta(days=ENDING_DAYS)
    out: list[Finding] = []
    for (afnemer, product), c in sorted(st.contracts.items()):
        if c.valid_until is not None and today <= c.valid_until <= horizon:
            out.append(Finding("contract_ending", "info", f"contract:{afnemer}/{product}",
                               f"the contract of {afnemer} for {product} ends on {c.valid_until.isoformat()}"))
    for (afnemer, intermediair), m in sorted(st.mandates.items()):
        if m.valid_until is not None and today <= m.valid_until <= horizon:
            out.append(Finding("mandate_ending", "info", f"mandate:{afnemer}/{intermediair}",
                               f"the mandate of {intermediair} from {afnemer} ends on {m.valid_until.isoformat()}"))
    return out


# -- in Dutch, with names: the operator's page (/operator/controle) -------------------------------------------------

@dataclass(frozen=True)
class LapseDays:
    """What the policy state does not hold but the wording of an inert grant names: when a contract or mandate
    that is gone was ended (audit subject -> instant), when a mandate was last changed."""

    ended: dict[str, datetime]
    changed: dict[tuple[str, str], datetime]


@dataclass(frozen=True)
class Explained:
    """A finding as the portal shows it: what it is about and what is wrong, in Dutch, with names."""

    finding: Finding
    about: str
    text: str


def explained(db: Database, today: date) -> list[Explained]:
    """:func:`lint`'s findings, each described in Dutch with the names of the state it was found in."""
    with db.read() as s:
        st = policystate.current(s)
        waiting = policystate.approved_since(s)
        found = lint_state(st, today, waiting)
        inert = [f.subject.partition(":")[2].split("/") for f in found if f.kind == "inert_grant"]
        pairs = {(afnemer, org) for email, afnemer, _ in inert
                 if (org := st.accounts[email].org) is not None and org != afnemer}
        gone = [mine.contract_subject(a, p) for _, a, p in inert if (a, p) not in st.contracts]
        gone += [mine.mandate_subject(a, i) for a, i in pairs if (a, i) not in st.mandates]
        days = LapseDays(mine.ended_at(s, gone), mine.mandates_changed(s, pairs))
    return [describe(f, st, today, waiting, days) for f in found]


def describe(f: Finding, st: PolicyState, today: date, waiting: dict[str, datetime] | None = None,
             days: LapseDays | None = None) -> Explained:
    """One finding in Dutch: about whom or what (names, not codes or numbers), and what is wrong and to do."""
    kind, _, key = f.subject.partition(":")
    parts = key.split("/")

    def org(kvk: str | None) -> str:
        o = st.orgs.get(kvk or "")
        return o.name if o is not None else f"KvK {kvk}"

    def product(code: str) -> str:
        p = st.products.get(code)
        return p.name if p is not None else code

    def person(email: str) -> str:
        a = st.accounts.get(email)
        return f"{a.name} ({email})" if a is not None and a.name else email

    if f.kind in {"grant_to_inactive_account", "inert_grant"}:
        email, afnemer, code = parts
        holder = st.accounts.get(email)
        own = holder.org if holder is not None else None
        about = f"{person(email)}: {product(code)} voor {org(afnemer)}"
        if f.kind == "grant_to_inactive_account":
            return Explained(f, about, f"Het account is gedeactiveerd maar heeft nog een koppeling met {product(code)} "
                                       f"voor {org(afnemer)}. Verwijder de koppeling.")
        # The wording of the gebruiker's and the beheerder's pages: which contract or mandate, and which day.
        known = days or LapseDays({}, {})

        def at(instant: datetime | None) -> date | None:
            return instant.astimezone(AMSTERDAM).date() if instant is not None else None

        lapsed = grants.lapse(
            afnemer == own, code, st.contracts.get((afnemer, code)),
            st.mandates.get((afnemer, own)) if own is not None else None, today,
            contract_gone=at(known.ended.get(mine.contract_subject(afnemer, code))),
            mandate_gone=at(known.ended.get(mine.mandate_subject(afnemer, own or ""))),
            mandate_changed=at(known.changed.get((afnemer, own or ""))))
        why = (sentences.lapse(lapsed[0], lapsed[1], product(code), org(afnemer), org(own)) if lapsed is not None
               else "Het contract of de opdracht is niet meer geldig.")
        return Explained(f, about, f"De koppeling geeft geen toegang. {why} Vernieuw het contract of de opdracht, "
                                   f"of verwijder de koppeling.")
    if f.kind == "no_beheerder":
        return Explained(f, org(key), f"{org(key)} heeft accounts maar geen actieve beheerder. Wijs een beheerder "
                                      f"aan.")
    if f.kind == "single_beheerder":
        members = [a for a in st.accounts.values() if a.org == key]
        only = r4.active(members)
        return Explained(f, org(key), f"{org(key)} heeft één beheerder, {person(only[0]) if only else 'onbekend'}. "
                                      f"Raad de organisatie aan een tweede beheerder aan te wijzen.")
    if f.kind == "contract_ending":
        afnemer, code = parts
        c = st.contracts[(afnemer, code)]
        until = sentences.day(c.valid_until) if c.valid_until else ""
        return Explained(f, f"{org(afnemer)}: {product(code)}", f"Het contract van {org(afnemer)} voor "
                                                                f"{product(code)} loopt af op {until}.")
    if f.kind == "mandate_ending":
        afnemer, intermediair = parts
        m = st.mandates[(afnemer, intermediair)]
        until = sentences.day(m.valid_until) if m.valid_until else ""
        return Explained(f, f"{org(afnemer)} → {org(intermediair)}",
                         f"De opdracht van {org(afnemer)} aan {org(intermediair)} loopt af op {until}.")
    if f.kind == "account_not_activated":
        since = (waiting or {}).get(key)
        when = f" op {sentences.day(since.astimezone(AMSTERDAM).date())}" if since else ""
        a = st.accounts.get(key)
        where = f" van {org(a.org)}" if a is not None and a.org else ""
        return Explained(f, person(key), f"Het account{where} is{when} goedgekeurd maar nooit geactiveerd (een "
                                         f"activatielink is {ACTIVATION_DAYS} dagen geldig). Stuur een nieuwe "
                                         f"activatielink of deactiveer het account.")
    return Explained(f, key or kind, "Deze bevinding vraagt aandacht.")
