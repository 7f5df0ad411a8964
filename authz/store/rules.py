"""Reading the Casbin lines of ``casbin_rule`` the way Casbin itself reads them: through its SQLAlchemy adapter.

Only the adapter's reads are used (``load_policy`` and ``load_filtered_policy``); its writes are wrong in ways the
facts file measured (``remove_policies`` deletes more than asked, ``add_policies`` is not atomic, no call can join a
transaction), so :mod:`authz.store.projection` writes the rows. Reading through the adapter keeps the reference
honest: the lines the tests and /v1/explain hand to Casbin are the lines Casbin's own persistence layer sees.

:func:`derived_lines` says what ``casbin_rule`` should hold according to the domain tables, so that a test (and an
operator's lint) can compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy_adapter.adapter import Adapter, Filter

from authz import policy
from authz.policy import Line
from authz.store.db import Database
from authz.store.schema import Account, CasbinRule, Contract, Grant, Mandate, Role

# Policy types the projection writes; the model's other types (p2) come from the reviewed CSV files.
PTYPES = ("p", "g", "g2", "g3")


def adapter(engine: Engine) -> Adapter:
    """The adapter over ``engine``'s ``casbin_rule`` (our table class, with its indexes; never created here).

    Cheap to build (a sessionmaker), so none is kept: it would keep its engine alive.
    """
    return Adapter(engine, db_class=CasbinRule, create_table=False)


def _filter(**columns: Sequence[str]) -> Filter:
    # Filter's lists are class attributes shared by every instance: set each one on the instance, never append.
    f = Filter()
    for name in ("ptype", "v0", "v1", "v2", "v3", "v4", "v5"):
        setattr(f, name, list(columns.get(name, ())))
    return f


def all_lines(db: Database) -> list[Line]:
    """Every line of ``casbin_rule`` (``Adapter.load_policy``), in the model's policy types."""
    model = policy.new_model()
    adapter(db.engine).load_policy(model)
    return policy.lines_in(model, PTYPES)


def lines_for(db: Database, user: str, org: str | None, product: str, afnemer: str | None = None) -> list[Line]:
    """The lines that can decide whether ``user`` (of ``org``) may view ``product`` (for ``afnemer``, or any).

    Four filtered loads, each served by an index on (ptype, v0/v1): the account's grant lines for the product,
    its role lines, the contracts of the afnemers it holds grants from, and its organisation's mandates from them.
    """
    a = adapter(db.engine)
    model = policy.new_model()
    grants: dict[str, Sequence[str]] = {"ptype": ["p"], "v0": [user], "v2": [product]}
    if afnemer is not None:
        grants["v1"] = [afnemer]
    a.load_filtered_policy(model, _filter(**grants))
    afnemers = sorted({rule[1] for rule in model.get_policy("p", "p")} | ({afnemer} if afnemer else set()))
    a.load_filtered_policy(model, _filter(ptype=["g"], v0=[user]))
    if afnemers:
        a.load_filtered_policy(model, _filter(ptype=["g2"], v1=[f"{x}/{product}" for x in afnemers]))
        if org is not None:
            targets = [t for x in afnemers for t in (f"{x}/{product}", f"{x}/*")]
            a.load_filtered_policy(model, _filter(ptype=["g3"], v0=[org], v1=targets))
    return policy.lines_in(model, PTYPES)


def derived_lines(s: Session) -> list[Line]:
    """What ``casbin_rule`` must hold, derived from the domain tables alone (sorted; the static lines excluded)."""
    roles: dict[int, list[str]] = {}
    for account_id, role in s.execute(select(Role.account_id, Role.role)):
        roles.setdefault(account_id, []).append(role)
    out: list[Line] = []
    emails: dict[int, str] = {}
    for a in s.scalars(select(Account)):
        emails[a.id] = a.email
        out += policy.account_lines(a.email, a.org, a.status, roles.get(a.id, ()))
    out += [policy.grant_line(emails[i], afnemer, product)
            for i, afnemer, product in s.execute(select(Grant.account_id, Grant.afnemer, Grant.product))]
    out += [policy.contract_line(c.afnemer, c.product, c.valid_from, c.valid_until)
            for c in s.scalars(select(Contract))]
    for m in s.scalars(select(Mandate)):
        out += policy.mandate_lines(m.afnemer, m.intermediair, m.products, m.valid_from, m.valid_until)
    return sorted(out)


def stored_lines(s: Session) -> list[Line]:
    """The rows of ``casbin_rule`` as lines, sorted, read in ``s``'s transaction (for comparing with the above)."""
    out: list[Line] = []
    for row in s.scalars(select(CasbinRule)):
        values = [v for v in (row.v0, row.v1, row.v2, row.v3, row.v4, row.v5) if v is not None]
        out.append((row.ptype, *values))
    return sorted(out)
