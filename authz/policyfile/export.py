"""``authz policy export``: the policy state as a deterministic, human-readable YAML file.

Every entry is one line (a YAML flow mapping) in a fixed order, so that two exports of the same state are the same
bytes and a change reads as a line diff in code review. Nothing that changes without the policy changing is written
(no revision, no time of export), and no password hash or token ever is.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import yaml

from authz.domain.state import PolicyState
from authz.policyfile.model import only, utc_text
from authz.store import policystate
from authz.store.db import Database

FORMAT = 1
HEADER = ("# authz policy file: written by `authz policy export`, read by `authz policy import`, compared by\n"
          "# `authz policy diff`. One entry per line, sorted; days are ISO dates in Europe/Amsterdam, both ends\n"
          "# inclusive, valid_until null = open-ended; mandate products null = all of the afnemer's products.\n")


def _flow(values: dict[str, Any]) -> str:
    return yaml.safe_dump(values, default_flow_style=True, sort_keys=False, width=1 << 30,
                          allow_unicode=True).rstrip("\n")


def _scalar(value: Any) -> str:
    return _flow({"v": value})[4:-1]


def _day(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def render(st: PolicyState) -> str:
    """The file text of ``st``."""
    out = [HEADER, f"format: {FORMAT}\n", f"scope: {_scalar(st.scope or 'all')}\n"]

    def section(name: str, lines: list[str]) -> None:
        out.append(f"{name}:{' []' if not lines else ''}\n")
        out.extend(f"- {line}\n" for line in lines)

    section("organisations", [_flow({"kvk": o.kvk, "name": o.name, "status": o.status, "domains": list(o.domains)})
                              for _, o in sorted(st.orgs.items())])
    section("products", [_flow({"code": p.code, "name": p.name, "description": p.description})
                         for _, p in sorted(st.products.items())])
    section("contracts", [_flow({"afnemer": c.afnemer, "product": c.product, "valid_from": _day(c.valid_from),
                                 "valid_until": _day(c.valid_until)})
                          for _, c in sorted(st.contracts.items())])
    section("mandates", [_flow({"afnemer": m.afnemer, "intermediair": m.intermediair,
                                "products": list(m.products) if m.products is not None else None,
                                "valid_from": _day(m.valid_from), "valid_until": _day(m.valid_until)})
                         for _, m in sorted(st.mandates.items())])
    out.append(f"accounts:{' []' if not st.accounts else ''}\n")
    by_account: dict[str, list[str]] = {}
    for (email, afnemer, product), g in sorted(st.grants.items()):
        by_account.setdefault(email, []).append(_flow({"afnemer": afnemer, "product": product,
                                                       "granted_by": g.granted_by,
                                                       "granted_at": utc_text(g.granted_at)}))
    for email, a in sorted(st.accounts.items()):
        out.append(f"- email: {_scalar(email)}\n")
        out.append(f"  name: {_scalar(a.name)}\n")
        out.append(f"  org: {_scalar(a.org)}\n")
        out.append(f"  status: {a.status}\n")
        out.append(f"  roles: {_scalar(list(a.roles))}\n")
        grants = by_account.get(email, [])
        out.append(f"  grants:{' []' if not grants else ''}\n")
        out.extend(f"  - {line}\n" for line in grants)
    return "".join(out)


def state_at(db: Database, org: str | None = None, at: datetime | None = None) -> PolicyState:
    """The state now (from the domain tables) or at ``at`` (from the audit trail alone), whole or for ``org``."""
    with db.read() as s:
        st = policystate.current(s) if at is None else policystate.replay(s, at)
    return only(st, org) if org is not None else st


def export_yaml(db: Database, org: str | None = None, at: datetime | None = None) -> str:
    """The policy file of the whole state or of organisation ``org``, now or as it was at ``at``."""
    return render(state_at(db, org, at))
