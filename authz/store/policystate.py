"""The policy state for policy files and reviews (:mod:`authz.policyfile`): read now, or rebuilt from the audit trail.

Only reads. :func:`replay` uses the audit trail alone (R12), so that a reviewer can ask what the state was at a past
moment even though the domain tables hold only the present.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from authz.domain.state import Acct, Contr, GrantRec, Mand, Org, PolicyState, Prod, apply_record
from authz.store.schema import Account, Audit, Change, Contract, Grant, Mandate, Organisation, Product, Role


def current(s: Session) -> PolicyState:
    """The state the domain tables hold now (read in the caller's transaction, so one consistent revision)."""
    st = PolicyState()
    for o in s.scalars(select(Organisation)):
        st.orgs[o.kvk] = Org(o.kvk, o.name, o.status, tuple(sorted(o.domains or ())))
    for p in s.scalars(select(Product)):
        st.products[p.code] = Prod(p.code, p.name, p.description or "")
    for c in s.scalars(select(Contract)):
        st.contracts[(c.afnemer, c.product)] = Contr(c.afnemer, c.product, c.valid_from, c.valid_until)
    for m in s.scalars(select(Mandate)):
        st.mandates[(m.afnemer, m.intermediair)] = Mand(
            m.afnemer, m.intermediair, m.valid_from, m.valid_until,
            tuple(sorted(m.products)) if m.products is not None else None)
    roles: dict[int, list[str]] = {}
    for account_id, role in s.execute(select(Role.account_id, Role.role)):
        roles.setdefault(account_id, []).append(role)
    emails: dict[int, str] = {}
    for a in s.scalars(select(Account)):
        emails[a.id] = a.email
        st.accounts[a.email] = Acct(a.email, a.name or "", a.org, a.status, tuple(sorted(roles.get(a.id, ()))))
    for g in s.scalars(select(Grant)):
        st.grants[(emails[g.account_id], g.afnemer, g.product)] = GrantRec(g.granted_by, g.granted_at)
    return st


def replay(s: Session, at: datetime, orgs: Collection[str] | None = None) -> PolicyState:
    """The state as it was at ``at``, rebuilt from the audit trail alone, in the order the records were written.

    With ``orgs``, only the records made on behalf of those organisations (and those of no organisation, such as
    products) are read: enough for a question about those organisations, and far fewer rows.
    """
    st = PolicyState()
    q = select(Audit.at, Audit.actor, Audit.action, Audit.subject, Audit.before, Audit.after).where(Audit.at <= at)
    if orgs is not None:
        q = q.where(or_(Audit.on_behalf_of.in_(sorted(orgs)), Audit.on_behalf_of.is_(None)))
    for when, actor, action, subject, before, after in s.execute(q.order_by(Audit.id)):
        apply_record(st, when, actor, action, subject, before, after)
    return st


def replay_about(s: Session, at: datetime, subjects: Collection[str], st: PolicyState | None = None) -> PolicyState:
    """Apply to ``st`` (a fresh state when None) the audit records about exactly these ``subjects``
    (``account:E``, ``product:P``, ``contract:A/P``, ...) made up to ``at``, in the order they were written.

    Every record changes only the thing its subject names (:func:`authz.domain.state.apply_record`; an account's
    grants are records about the account), so the state this gives for those subjects is the one :func:`replay`
    of the whole trail gives: the index ``ix_audit_subject_at`` finds them without reading any other record.
    """
    st = st if st is not None else PolicyState()
    if not subjects:
        return st
    q = (select(Audit.at, Audit.actor, Audit.action, Audit.subject, Audit.before, Audit.after)
         .where(Audit.subject.in_(sorted(subjects)), Audit.at <= at).order_by(Audit.id))
    for when, actor, action, subject, before, after in s.execute(q):
        apply_record(st, when, actor, action, subject, before, after)
    return st


def revision_at(s: Session, at: datetime) -> int:
    """The revision in effect at ``at``: that of the newest change recorded at or before it (0: none yet)."""
    found = s.scalar(select(Change.revision).where(Change.at <= at)
                     .order_by(Change.at.desc(), Change.revision.desc()).limit(1))
    return int(found) if found is not None else 0


def mandate_holders(s: Session, afnemer: str, at: datetime) -> set[str]:
    """Every organisation that held a mandate from ``afnemer`` at some moment up to ``at`` (from the audit trail)."""
    rows = s.scalars(select(Audit.subject).where(Audit.at <= at, Audit.on_behalf_of == afnemer,
                                                 Audit.subject.startswith(f"mandate:{afnemer}/")))
    return {subject.rpartition("/")[2] for subject in rows}


def approved_since(s: Session) -> dict[str, datetime]:
    """Accounts still waiting for activation (status approved): e-mail -> when the account was made."""
    return dict(s.execute(select(Account.email, Account.created_at).where(Account.status == "approved")).all())


def account_trail(s: Session, org: str, email: str) -> list[Audit]:
    """The audit records about account ``email`` made on behalf of its organisation ``org``, oldest first."""
    return list(s.scalars(select(Audit).where(Audit.on_behalf_of == org, Audit.subject == f"account:{email}")
                          .order_by(Audit.id)))


def account_in(s: Session, org: str, email: str) -> bool:
    """Whether ``email`` is an account of organisation ``org``."""
    return s.scalar(select(Account.org).where(Account.email == email)) == org
