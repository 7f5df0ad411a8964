"""Mijn producten (R16): the gebruiker's own page, ``/producten``, the home after log-in of every account of an
organisation that is no beheerder. Per afnemer, by name: the products the account may view now, since when and
given by whom, each with the operator's link where there is one; below them the grants that give nothing today, and
which contract or mandate ended when.

The page asks :func:`authz.service.mine.products` on every load, as ``GET /v1/session/products`` does: nothing of it
is kept in the session, so a beheerder's change shows on the next load without logging in again (R11).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.web import render, route
from authz.clock import AMSTERDAM
from authz.domain import sentences
from authz.errors import Forbidden
from authz.service import mine
from authz.service.accounts import dutch_date
from authz.state import state


def groups(found: mine.Mine) -> list[dict[str, Any]]:
    """The viewable products per afnemer, in the service's order (afnemer name, then product name)."""
    out: dict[str, dict[str, Any]] = {}
    for p in found.products:
        group = out.setdefault(p.afnemer, {"name": p.afnemer_name, "products": []})
        group["products"].append({
            "name": p.name, "url": p.url, "since": dutch_date(p.granted_at.astimezone(AMSTERDAM).date()),
            "by": texts.mine_giver(p.granted_by, p.granted_by_name)})
    return list(out.values())


async def products_page(request: Request) -> Response:
    actor = await guard.member(request)
    if actor.org is None:
        raise Forbidden("forbidden", "Only an account of an organisation holds grants.")
    found = await run_in_threadpool(mine.products, state(request).db, actor.email)
    inert = [sentences.lapse(str(i.reason), i.since, i.name, i.afnemer_name) for i in found.inert]
    return render(request, "mine.html", {**guard.frame(actor, "producten", texts.MINE_TITLE),
                                         "groups": groups(found), "inert": inert, "texts": texts})


routes = [route("/producten", products_page)]
