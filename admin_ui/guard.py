"""Who is looking at a page, and may they: the same session and the same Casbin permission checks as the JSON API.

A beheerder's pages always act on the beheerder's own organisation (taken from the session, never from the URL),
so changing an e-mail address or a number in a URL reaches at most another organisation's 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from authz.actor import Actor, check_permission
from authz.errors import Forbidden, Unauthorized
from authz.identity import SESSION_COOKIE, current_actor, require, require_operator


@dataclass(frozen=True)
class Nav:
    """What the left navigation offers this actor."""

    beheerder: bool
    operator: bool
    member: bool  # an account of an organisation: "Mijn producten" (R16)


def nav(actor: Actor) -> Nav:
    return Nav(beheerder="beheerder" in actor.roles and actor.org is not None, operator="operator" in actor.roles,
               member=actor.org is not None)


async def who(request: Request) -> Actor | None:
    """The logged-in actor, or None (for pages anyone may see: the start page, log-out). Also an actor that must
    still set up a second factor (R17): these pages show nothing else."""
    if SESSION_COOKIE not in request.cookies:
        return None
    try:
        return await current_actor(request, enrolling=True)
    except Unauthorized:
        return None


async def enrolling(request: Request) -> Actor:
    """Any logged-in account, also one that must still set up a second factor: the enrolment pages (R17)."""
    return await current_actor(request, enrolling=True)


async def beheerder(request: Request, action: str) -> tuple[Actor, str]:
    """(actor, own organisation) once the actor may perform ``action`` for it (403 otherwise)."""
    actor = await current_actor(request)
    if actor.org is None:
        raise Forbidden("forbidden", "Only an account of an organisation can do this.")
    check_permission(actor, action, actor.org)
    return actor, actor.org


async def operator(request: Request, action: str) -> Actor:
    return await require_operator(request, action)


async def for_org(request: Request, action: str, kvk: str) -> Actor:
    """The actor, once it may do ``action`` for organisation ``kvk``: the operator's care for an organisation (R18:
    policy.conf, ``operator:org``), as the JSON API's ``require_path_org`` asks."""
    return await require(request, action, kvk)


async def member(request: Request) -> Actor:
    """Any logged-in account (their own account page)."""
    return await current_actor(request)


def frame(actor: Actor, section: str, title: str) -> dict[str, object]:
    """The part of a page's context that the layout needs: who, which menu, which item is current, the title."""
    return {"actor": actor, "nav": nav(actor), "section": section, "title": title}
