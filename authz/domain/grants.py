"""R2: what a beheerder may offer and tick for a user and an afnemer; R9: what a change of the ticked set is.

What may be newly ticked is exactly what a grant would give access to on that day (:func:`authz.domain.access.stage`
on the contract and mandate): the afnemer's currently contracted products, within the mandate's products when the
afnemer is not the user's organisation. A grant already held may stay ticked even when it has become inert (R1);
R16: :func:`lapse` names why such a grant gives nothing, for the gebruiker's own view.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, timedelta
from enum import StrEnum

from authz.domain.access import Reason, stage
from authz.domain.state import Contr, Mand
from authz.domain.window import LAPSED, covers, holds, span
from authz.errors import Invalid


class Refusal(StrEnum):
    """Why a product may not be newly ticked for (user, afnemer)."""

    NO_ORGANISATION = "no_organisation"  # the user belongs to no organisation (an operator): it holds no grant
    NO_CONTRACT = "no_contract"  # the afnemer holds no contract for the product
    NO_MANDATE = "no_mandate"  # the user's organisation holds no mandate from the afnemer covering the product
    CONTRACT_NOT_VALID = "contract_not_valid"  # there is a contract, but not valid on the day
    MANDATE_NOT_VALID = "mandate_not_valid"  # there is a covering mandate, but not valid on the day


def refusal(org: str | None, afnemer: str, product: str, contract: Contr | None, mandate: Mand | None,
            day: date) -> Refusal | None:
    """Why a beheerder of ``org`` may not newly tick ``product`` for ``afnemer`` for a user of ``org`` on ``day``;
    None when they may. ``contract`` is the afnemer's contract for the product, ``mandate`` the afnemer's mandate
    to ``org`` (each None when there is none)."""
    if org is None:
        return Refusal.NO_ORGANISATION
    if contract is None:
        return Refusal.NO_CONTRACT
    own = afnemer == org
    if not own and (mandate is None or not covers(mandate.products, product)):
        return Refusal.NO_MANDATE
    terms = None if own or mandate is None else (*span(mandate.valid_from, mandate.valid_until), mandate.products)
    reached = stage(span(contract.valid_from, contract.valid_until), terms, product, day.toordinal())
    if reached is Reason.NO_CONTRACT:
        return Refusal.CONTRACT_NOT_VALID
    if reached is Reason.NO_MANDATE:
        return Refusal.MANDATE_NOT_VALID
    return None


def offer(org: str, contracts: Iterable[Contr], mandates: Iterable[Mand], day: date) -> dict[str, list[str]]:
    """R2 and R15: afnemer -> the products a beheerder of ``org`` may tick for its users on ``day``, sorted.

    First ``org`` itself when it has such products, then one entry per mandate ``org`` holds that is valid on
    ``day`` (possibly without products), in afnemer order. ``contracts`` and ``mandates`` may hold more than
    these (other afnemers, lapsed ones): only what passes :func:`refusal` is offered.
    """
    by_afnemer: dict[str, list[Contr]] = {}
    for c in contracts:
        by_afnemer.setdefault(c.afnemer, []).append(c)

    def products(afnemer: str, mandate: Mand | None) -> list[str]:
        return sorted(c.product for c in by_afnemer.get(afnemer, ())
                      if refusal(org, afnemer, c.product, c, mandate, day) is None)

    own = products(org, None)
    out = {org: own} if own else {}
    for m in sorted(mandates, key=lambda m: m.afnemer):
        if m.intermediair == org and m.afnemer != org and holds(m.valid_from, m.valid_until, day):
            out[m.afnemer] = products(m.afnemer, m)
    return out


def check_ticks(offered: Mapping[str, Collection[str]], org: str | None, afnemer: str, wanted: Collection[str],
                held: Collection[str]) -> None:
    """R2 on a save of the ticked set ``wanted`` of (user of ``org``, ``afnemer``), given what :func:`offer` offers
    and what the user ``held`` for that afnemer: 422 ``afnemer_not_selectable`` for an afnemer that is neither
    ``org`` nor offered (no valid mandate) unless grants are held for it, 422 ``not_selectable`` for a product
    neither offered nor held."""
    if afnemer != org and afnemer not in offered and not held:
        raise Invalid("afnemer_not_selectable",
                      f"Organisation {org} holds no mandate from {afnemer} that is valid today.")
    refused = sorted(set(wanted) - set(offered.get(afnemer, ())) - set(held))
    if refused:
        raise Invalid("not_selectable", f"Not selectable for afnemer {afnemer}: {', '.join(refused)}. Only the "
                                        f"afnemer's currently contracted products (within the mandate) are.")


def inert(held: Mapping[str, Collection[str]], offered: Mapping[str, Collection[str]]) -> dict[str, list[str]]:
    """R1: afnemer -> the held grants that give nothing today (contract or mandate lapsed, or the mandate no longer
    covers the product): held but no longer offered. They are kept, and shown, until a beheerder unticks them."""
    out = {a: [p for p in products if p not in offered.get(a, ())] for a, products in held.items()}
    return {a: products for a, products in out.items() if products}


def change(held: Collection[str], wanted: Collection[str]) -> tuple[list[str], list[str]]:
    """R9: (added, removed), each sorted, when the ticked set goes from ``held`` to ``wanted``: what the user's
    e-mail and the audit record list."""
    return sorted(set(wanted) - set(held)), sorted(set(held) - set(wanted))


class Lapse(StrEnum):
    """R16: why a held grant gives nothing today, as the gebruiker's own view names it. ``since`` of :func:`lapse`
    is the first day without access for an ended contract or mandate, the day it starts for one not started yet,
    and the day the mandate was last changed for one that no longer covers the product."""

    CONTRACT_ENDED = "contract_ended"  # the afnemer's contract ran out or was ended by the operator
    CONTRACT_NOT_STARTED = "contract_not_started"  # the contract starts later
    MANDATE_ENDED = "mandate_ended"  # the afnemer's mandate to the user's organisation ran out or was ended
    MANDATE_NOT_STARTED = "mandate_not_started"  # the mandate starts later
    MANDATE_EXCLUDES_PRODUCT = "mandate_excludes_product"  # the mandate runs, but no longer covers the product


def lapse(own: bool, product: str, contract: Contr | None, mandate: Mand | None, day: date, *,
          contract_gone: date | None = None, mandate_gone: date | None = None,
          mandate_changed: date | None = None) -> tuple[Lapse, date | None] | None:
    """R16: (why, since) a held grant of ``product`` gives nothing on ``day``, None when it gives access. Whether it
    does is decided by :func:`authz.domain.access.stage`, as the decider decides it; this only names the cause.
    ``own``: the afnemer is the user's organisation (no mandate needed). ``contract`` and ``mandate`` are the rows
    that exist (None: never made or removed, then ``contract_gone``/``mandate_gone`` is the day it was removed, if
    known); ``mandate_changed`` is the day the mandate was last changed."""
    contract_span = span(contract.valid_from, contract.valid_until) if contract is not None else LAPSED
    terms = None if own else (
        (*span(mandate.valid_from, mandate.valid_until), mandate.products) if mandate is not None else (*LAPSED, None))
    reached = stage(contract_span, terms, product, day.toordinal())
    if reached is Reason.GRANTED:
        return None
    if reached is Reason.NO_CONTRACT:
        if contract is None:
            return Lapse.CONTRACT_ENDED, contract_gone
        if day < contract.valid_from:
            return Lapse.CONTRACT_NOT_STARTED, contract.valid_from
        return Lapse.CONTRACT_ENDED, _after(contract.valid_until)
    if mandate is None:
        return Lapse.MANDATE_ENDED, mandate_gone
    if day < mandate.valid_from:
        return Lapse.MANDATE_NOT_STARTED, mandate.valid_from
    if not holds(mandate.valid_from, mandate.valid_until, day):
        return Lapse.MANDATE_ENDED, _after(mandate.valid_until)
    return Lapse.MANDATE_EXCLUDES_PRODUCT, mandate_changed


def _after(last: date | None) -> date | None:
    """The first day after a window's last day."""
    return last + timedelta(days=1) if last is not None else None
