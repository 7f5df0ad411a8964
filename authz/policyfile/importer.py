"""``authz policy import``: make the database hold what a policy file says, in one transaction, through the store.

The file is the desired state of its scope (the whole policy, or one organisation's part of it as ``authz policy
export --org`` writes it). The plan is the difference between that and the database: organisations, products and
accounts are created, contracts and mandates put or ended, account statuses and roles set, grants replaced. Every
step is a store function or, for grants, the beheerder's save step (:func:`authz.service.grants.set_grants`,
which checks R2 again and sends the R9 e-mail), so the audit records (actor ``import:<file>``), the
``casbin_rule`` lines, the change events and the revision come exactly as from the API. A file that breaks a rule,
or asks for what import does not do (deleting or renaming organisations, products or accounts), changes nothing.

Rules (:mod:`authz.policyfile.rules`, over the pure functions of :mod:`authz.domain`): R4 holds in the state
*after* the import for every organisation it touches; a new grant must be one a beheerder could tick on the
import's day (R2: the afnemer's currently contracted products, within the mandate's subset), while a grant the
database already holds may stay even when inert (R1). A file scoped to one organisation changes no status or role
of another organisation's account (nor creates one): those lines are refused, naming the line.

Provenance is trusted: ``granted_by`` and ``granted_at`` of a new grant are taken from the file as written, so an
export imported elsewhere keeps who ticked what and when; a grant without them is stamped with the import's actor
and moment. Only an operator runs an import: the file is the operator's word, like a beheerder's save.

Side effects as in the service layer: each changed (account, afnemer) grant set sends that account the same
"grants changed" e-mail as a beheerder's save (R9, :func:`authz.service.grants.set_grants`; the message names one
afnemer, so an account whose grants change for two afnemers gets two); an account the import deactivates gets the
deactivation e-mail, and its sessions end after the commit through the session store the caller passes (the CLI
builds one with :func:`authz.cache.sessions.make_sessions`). The e-mails commit with the change (outbox).

Accounts created by an import have no usable password (the hash field holds ``!imported``, which no password
matches), also when the file makes them ``active``: the R8 activation link is not sent, but before their owners can
log in they must set a password through the password-reset link, which is mailed to the address and so proves it as
activation would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from authz.cache.sessions import SessionStore
from authz.config import Settings
from authz.domain.grants import change
from authz.domain.state import Acct, Contr, Mand, PolicyState
from authz.policyfile.model import only, utc_text
from authz.policyfile.parse import Parsed, PolicyFileError, Problem, parse
from authz.policyfile.rules import check_rules
from authz.service import grants
from authz.service.accounts import acting, mail
from authz.store import accounts, catalogue, policystate
from authz.store.db import Database, Tx

NO_PASSWORD = "!imported"  # noqa: S105 - not an argon2 hash: authz.passwords.verify refuses every password against it


@dataclass
class Plan:
    """The readable steps of an import, each with the store call that makes it."""

    portal_url: str = Settings.base_url  # for the links in the e-mails
    steps: list[tuple[str, Callable[[Tx], object]]] = field(default_factory=list)
    deactivated: list[int] = field(default_factory=list)  # account ids whose sessions end after the commit

    def add(self, text: str, run: Callable[[Tx], object]) -> None:
        self.steps.append((text, run))

    @property
    def lines(self) -> list[str]:
        return [text for text, _ in self.steps]


@dataclass(frozen=True)
class Outcome:
    plan: list[str]
    revision: int | None  # None: nothing changed (or a dry run)


def _span(valid_from: object, valid_until: object) -> str:
    return f"{valid_from}..{valid_until or 'open'}"


def _contract_text(c: Contr) -> str:
    return f"contract {c.afnemer}/{c.product} {_span(c.valid_from, c.valid_until)}"


def _mandate_text(m: Mand) -> str:
    covers = ", ".join(m.products) if m.products is not None else "all products"
    return f"mandate {m.afnemer} -> {m.intermediair} ({covers}) {_span(m.valid_from, m.valid_until)}"


def plan(parsed: Parsed, current: PolicyState, path: str, stamp: tuple[str, str],
         portal_url: str = Settings.base_url) -> Plan:
    """The steps that turn ``current`` (whole, or the file's scope of it) into the file's state.

    ``stamp`` is (actor, instant) for grants the file gives without provenance. Raises :class:`PolicyFileError` for
    what the file asks and import does not do, naming the line.
    """
    want, lines = parsed.state, parsed.lines
    have = only(current, want.scope) if want.scope is not None else current
    p, problems = Plan(portal_url), []

    def refuse(key: tuple[str, ...], message: str) -> None:
        problems.append(Problem(lines.get(key, 1), message, path))

    for kvk, o in sorted(want.orgs.items()):
        old = current.orgs.get(kvk)
        if old is None:
            p.add(f"+ organisation {kvk} {o.name!r} ({o.status})",
                  partial(catalogue.create_org, kvk=o.kvk, name=o.name, domains=list(o.domains), status=o.status))
        elif old != o:
            if (old.status, o.status, old.domains) == ("pending", "verified", o.domains):
                p.add(f"~ organisation {kvk}: pending -> verified",
                      partial(catalogue.verify_org, kvk=o.kvk, name=o.name))
            else:
                refuse(("org", kvk), f"organisation {kvk} differs from the database ({old.name!r}, {old.status}, "
                                     f"{list(old.domains)}); import only creates and verifies organisations")
    for kvk in sorted(set(have.orgs) - set(want.orgs)):
        refuse(("scope",), f"organisation {kvk} is missing from the file; import removes no organisations")
    for code, pr in sorted(want.products.items()):
        old_p = current.products.get(code)
        if old_p is None:
            p.add(f"+ product {code} {pr.name!r}",
                  partial(catalogue.create_product, code=pr.code, name=pr.name, description=pr.description))
        elif old_p != pr:
            refuse(("product", code), f"product {code} differs from the database ({old_p.name!r}); import only "
                                      f"creates products")
    for code in sorted(set(have.products) - set(want.products)):
        refuse(("scope",), f"product {code} is missing from the file; import removes no products")

    for key, c in sorted(want.contracts.items()):
        if have.contracts.get(key) != c:
            p.add(f"{'~' if key in have.contracts else '+'} {_contract_text(c)}",
                  partial(catalogue.put_contract, afnemer=c.afnemer, product=c.product, valid_from=c.valid_from,
                          valid_until=c.valid_until))
    for key, m in sorted(want.mandates.items()):
        if have.mandates.get(key) != m:
            p.add(f"{'~' if key in have.mandates else '+'} {_mandate_text(m)}",
                  partial(catalogue.put_mandate, afnemer=m.afnemer, intermediair=m.intermediair,
                          products=_list(m.products), valid_from=m.valid_from, valid_until=m.valid_until))

    for email, a in sorted(want.accounts.items()):
        _plan_account(p, refuse, a, current.accounts.get(email), want.scope)
    for email in sorted(set(have.accounts) - set(want.accounts)):
        refuse(("scope",), f"account {email} is missing from the file; import deletes no accounts (give it status "
                           f"inactive instead)")
    _plan_grants(p, want, have, parsed.unstamped, stamp)

    for key, c in sorted(have.contracts.items()):
        if key not in want.contracts:
            p.add(f"- {_contract_text(c)}", partial(catalogue.end_contract, afnemer=c.afnemer, product=c.product))
    for key, m in sorted(have.mandates.items()):
        if key not in want.mandates:
            p.add(f"- {_mandate_text(m)}",
                  partial(catalogue.end_mandate, afnemer=m.afnemer, intermediair=m.intermediair))
    if problems:
        raise PolicyFileError(problems)
    return p


def _set_role(t: Tx, email: str, role: str, held: bool) -> None:
    accounts.set_role(t, accounts.get(t, email), role, held)


def _set_status(t: Tx, email: str, status: str, deactivated: list[int]) -> None:
    """As :func:`authz.service.members.deactivate` does: the e-mail commits with the change, and the account's
    sessions end after the commit (``deactivated``)."""
    a = accounts.get(t, email)
    was = a.status
    accounts.set_status(t, a, status)
    if status == "inactive" and was != "inactive":
        org_name = catalogue.get_org(t, a.org).name if a.org else ""
        mail(t, a.email, "account_deactivated", person=a.name, org_name=org_name, **acting(t))
        deactivated.append(a.id)


def _replace_grants(t: Tx, email: str, afnemer: str, products: set[str],
                    provenance: dict[str, tuple[str, datetime]], portal_url: str) -> None:
    # The beheerder's save step itself: R2 checked again on the database as the import has changed it so far, R9.
    grants.set_grants(t, accounts.get(t, email), afnemer, products, None, portal_url, provenance)


def _list(products: tuple[str, ...] | None) -> list[str] | None:
    return list(products) if products is not None else None


def _plan_account(p: Plan, refuse: Callable[[tuple[str, ...], str], None], a: Acct, old: Acct | None,
                  scope: str | None) -> None:
    if scope is not None and a.org != scope and (old is None or (old.status, old.roles) != (a.status, a.roles)):
        # The file speaks for its scope only: another organisation's accounts appear in it as holders of the
        # scope's grants, and their status and roles are that organisation's business (R2, R4).
        refuse(("account", a.email), f"account {a.email} belongs to {a.org or 'no organisation'}, outside the file's "
                                     f"scope {scope}; a scoped file creates no such account and changes neither its "
                                     f"status nor its roles")
        return
    if old is None:
        roles = f", {', '.join(a.roles)}" if a.roles else ""
        p.add(f"+ account {a.email} ({a.org or 'operator'}, {a.status}{roles}; no password until reset)",
              partial(accounts.create, email=a.email, org=a.org, password_hash=NO_PASSWORD, status=a.status,
                      name=a.name, role_set=set(a.roles)))
        return
    if (old.org, old.name) != (a.org, a.name):
        refuse(("account", a.email), f"account {a.email} has organisation {old.org} and name {old.name!r} in the "
                                     f"database; import changes neither")
        return
    if old.status == "approved" and a.status == "active":
        # Activation proves that the address is the applicant's (R8): only the link in the e-mail does it.
        refuse(("account", a.email), f"account {a.email} is approved but not activated; only the activation link "
                                     f"activates it (R8), an import does not")
        return
    for role in sorted(set(a.roles) - set(old.roles)):
        p.add(f"~ account {a.email}: + role {role}",
              partial(_set_role, email=a.email, role=role, held=True))
    if old.status != a.status:
        p.add(f"~ account {a.email}: status {old.status} -> {a.status}",
              partial(_set_status, email=a.email, status=a.status, deactivated=p.deactivated))
    for role in sorted(set(old.roles) - set(a.roles)):
        p.add(f"~ account {a.email}: - role {role}",
              partial(_set_role, email=a.email, role=role, held=False))


def _plan_grants(p: Plan, want: PolicyState, have: PolicyState, unstamped: set[tuple[str, str, str]],
                 stamp: tuple[str, str]) -> None:
    pairs = sorted({k[:2] for k in want.grants} | {k[:2] for k in have.grants if k[0] in want.accounts})
    for email, afnemer in pairs:
        wanted = {k[2]: g for k, g in want.grants.items() if k[:2] == (email, afnemer)}
        held = {k[2] for k in have.grants if k[:2] == (email, afnemer)}
        added, removed = change(held, wanted)
        if not added and not removed:
            continue
        provenance = {c: (wanted[c].granted_by, wanted[c].granted_at) for c in added
                      if (email, afnemer, c) not in unstamped}
        shown = [f"+{c}" + (f" (by {wanted[c].granted_by}, {utc_text(wanted[c].granted_at)})"
                            if c in provenance else f" (by {stamp[0]}, {stamp[1]})") for c in added]
        p.add(f"~ grants of {email} for {afnemer}: {', '.join([*shown, *(f'-{c}' for c in removed)])}",
              partial(_replace_grants, email=email, afnemer=afnemer, products=set(wanted), provenance=provenance,
                      portal_url=p.portal_url))


def import_file(db: Database, path: str | Path, *, dry_run: bool = False, text: str | None = None,
                portal_url: str = Settings.base_url, sessions: SessionStore | None = None) -> Outcome:
    """Validate the file, plan, and (unless ``dry_run``) apply the plan in one transaction; then end the sessions of
    the accounts it deactivated in ``sessions`` (when given: the sessions of a running app's store).

    Raises :class:`PolicyFileError` (nothing changed) for a malformed file or one that breaks R2 or R4.
    """
    name = str(path)
    parsed = parse(text if text is not None else Path(path).read_text(encoding="utf-8"), name)
    actor = f"import:{Path(name).name}"[:254]
    with db.tx(actor=actor) as t:
        current = policystate.current(t.s)
        kept = set(current.grants) & set(parsed.state.grants)
        problems: list[Problem] = []
        try:
            check_rules(parsed, name, kept, current, grants.today(t))
        except PolicyFileError as exc:
            problems += exc.problems
        try:
            steps = plan(parsed, current, name, (actor, utc_text(t.now)), portal_url)
        except PolicyFileError as exc:
            problems += exc.problems
        if problems:  # every problem at once: the rules' and what import does not do
            raise PolicyFileError(problems)
        if not dry_run:
            for _, run in steps.steps:
                run(t)
    if sessions is not None and not dry_run:
        for account_id in steps.deactivated:  # after commit: the account is inactive already (as members.deactivate)
            sessions.end_all(account_id)
    return Outcome(steps.lines, t.revision if steps.steps and not dry_run else None)
