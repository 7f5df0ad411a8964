"""A beheerder's organisation: account requests (R6, R7) and beheerders (R4, R14); the audit trail is
:mod:`admin_ui.logbook`'s.

The same service functions as ``/v1/orgs/{kvk}/requests`` and ``/beheerders``; the organisation is always the
beheerder's own, so another organisation's request number or account answers 404.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard
from admin_ui.web import attempt, form, render, route, text_field
from authz import values
from authz.service import accounts as account_service
from authz.service import beheerders, users
from authz.state import state


def request_id(request: Request) -> int:
    return values.record_id(request.path_params["id"], "unknown_request", "No such account request.")


async def decision(request: Request) -> tuple[int, str | None]:
    """The request number in the path and the optional reason in the form of an approve or reject button."""
    reason = text_field(await form(request), "reason", required=False, max_len=1000, lines=True)
    return request_id(request), reason or None


# -- account requests ------------------------------------------------------------------------------------------

async def requests_page(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "requests.list")
    rows = await run_in_threadpool(account_service.org_requests, state(request).db, org)
    for r in rows:
        r["created"] = r["created_at"][:10]
    return render(request, "requests.html", {**guard.frame(actor, "aanvragen", "Accountaanvragen"),
                                             "requests": rows, "operator": False, "base": "/aanvragen"})


async def _decide(request: Request, approve: bool) -> Response:
    actor, org = await guard.beheerder(request, "requests.decide")
    st = state(request)
    number, reason = await decision(request)
    said = ("goedgekeurd; de aanvrager krijgt een e-mail met een activeringslink" if approve
            else "afgewezen; de aanvrager krijgt hierover een e-mail")
    return await attempt(request, "/aanvragen",
                         lambda: account_service.org_decide(st.db, st.settings, actor.email, org, number, approve,
                                                            reason),
                         lambda view: f"De aanvraag van {view['email']} is {said}.")


async def approve(request: Request) -> Response:
    return await _decide(request, True)


async def reject(request: Request) -> Response:
    return await _decide(request, False)


# -- beheerders ------------------------------------------------------------------------------------------------

async def beheerders_page(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "users.list")
    st = state(request)

    def read() -> tuple[dict[str, Any], list[str]]:
        return beheerders.listing(st.db, actor.email, org), users.beheerder_candidates(st.db, org)

    listing, candidates = await run_in_threadpool(read)
    return render(request, "beheerders.html", {**guard.frame(actor, "beheerders", "Beheerders"),
                                               "beheerders": listing["beheerders"], "advice": listing.get("advice"),
                                               "candidates": candidates})


async def _change(request: Request, action: str, change: Any, done: str) -> Response:
    actor, org = await guard.beheerder(request, action)
    st = state(request)
    email = values.email(text_field(await form(request), "email"), "email")
    # Whoever stepped down is no beheerder any more: their start page is their own account.
    onward = "/" if email == actor.email and change is beheerders.remove else "/beheerders"
    return await attempt(request, "/beheerders", lambda: change(st.db, actor.email, org, email, st.settings.base_url),
                         lambda _: done.format(email=email), onward)


async def appoint(request: Request) -> Response:
    return await _change(request, "beheerders.appoint", beheerders.appoint,
                         "{email} is nu beheerder en heeft hierover een e-mail gekregen.")


async def remove(request: Request) -> Response:
    return await _change(request, "beheerders.remove", beheerders.remove,
                         "{email} is geen beheerder meer en heeft hierover een e-mail gekregen.")


routes = [
    route("/aanvragen", requests_page),
    route("/aanvragen/{id}/goedkeuren", approve, "POST"),
    route("/aanvragen/{id}/afwijzen", reject, "POST"),
    route("/beheerders", beheerders_page),
    route("/beheerders/aanwijzen", appoint, "POST"),
    route("/beheerders/intrekken", remove, "POST"),
]
