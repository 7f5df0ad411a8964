"""Grants (koppelingen): which account may view which product for which afnemer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from authz import policy
from authz.domain.grants import change
from authz.errors import Conflict
from authz.events import GrantsReplaced
from authz.store import projection
from authz.store.db import Tx
from authz.store.schema import Account, Grant


def of_account(t: Tx, account_id: int) -> dict[str, list[str]]:
    """afnemer -> sorted product codes."""
    out: dict[str, list[str]] = {}
    for afnemer, product in t.s.execute(
        select(Grant.afnemer, Grant.product).where(Grant.account_id == account_id)
        .order_by(Grant.afnemer, Grant.product)
    ):
        out.setdefault(afnemer, []).append(product)
    return out


def replace(t: Tx, account: Account, afnemer: str, products: set[str], expected_version: int | None,
            provenance: Mapping[str, tuple[str, datetime]] | None = None) -> tuple[list[str], list[str]]:
    """Make ``products`` the ticked set of (account, afnemer). Returns (added, removed), both sorted.

    ``provenance`` gives an added product the (granted_by, granted_at) it carried elsewhere (``authz policy
    import``); the audit record then holds it too, so that the trail alone still rebuilds the grant.

    The account row is locked first, so two beheerders saving at once are serialised and the second one's
    ``expected_version`` no longer matches (409, nothing changed).
    """
    t.s.refresh(account, with_for_update=True)
    if expected_version is not None and expected_version != account.grants_version:
        raise Conflict("stale_version", f"The grants of {account.email} were changed meanwhile (version "
                                        f"{account.grants_version}, not {expected_version}); reload and try again.")
    current = set(of_account(t, account.id).get(afnemer, []))
    added, removed = change(current, products)
    if not added and not removed:
        return [], []
    if removed:
        t.s.execute(delete(Grant).where(Grant.account_id == account.id, Grant.afnemer == afnemer,
                                        Grant.product.in_(removed)))
    given = {p: provenance[p] for p in added if provenance and p in provenance}
    for product in added:
        by, at = given.get(product, (t.actor, t.now))
        t.s.add(Grant(account_id=account.id, afnemer=afnemer, product=product, granted_by=by, granted_at=at))
    account.grants_version += 1
    t.s.flush()
    projection.remove(t.s, [policy.grant_line(account.email, afnemer, p) for p in removed])
    projection.add(t.s, [policy.grant_line(account.email, afnemer, p) for p in added])
    before: dict[str, Any] = {"afnemer": afnemer, "products": sorted(current)}
    after: dict[str, Any] = {"afnemer": afnemer, "products": sorted(products), "added": added, "removed": removed}
    if given:
        after["granted"] = {p: {"by": by, "at": at.isoformat()} for p, (by, at) in sorted(given.items())}
    t.audit("grants.replace", f"account:{account.email}", before, after, org=account.org)
    if afnemer != account.org:
        t.audit("grants.replace", f"account:{account.email}", before, after, org=afnemer)
    t.event(GrantsReplaced(account.email, afnemer, tuple(sorted(products))))
    return added, removed
