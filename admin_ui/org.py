"""A beheerder's organisation: account requests (R6, R7) and beheerders (R4, R14); the audit trail is
:mod:`admin_ui.logbook`'s.

The same service functions as ``/v1/orgs/{kvk}/requests`` and ``/beheerders``; the organisation is always the
beheerder's own, so another organisation's request number or account answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.web import attempt, form, redirect, render, route, text_field
from authz import values
from authz.domain import sentences
from authz.errors import NotFound
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
        r["created"] = sentences.day(datetime.fromisoformat(r["created_at"]).astimezone(sentences.AMSTERDAM))
    return render(request, "requests.html", {**guard.frame(actor, "aanvragen", "Accountaanvragen"),
                                             "requests": rows, "operator": False, "base": "/aanvragen"})


async def _decide_form(request: Request, approve: bool) -> Response:
    """The confirmation of a decision on an account request (R6): whose, what follows; its button POSTs. A request
    of another organisation, or one decided already, is not among the open ones: 404. Changes nothing."""
    actor, org = await guard.beheerder(request, "requests.decide")
    number = request_id(request)
    rows = await run_in_threadpool(account_service.org_requests, state(request).db, org)
    found = next((r for r in rows if r["id"] == number), None)
    if found is None:
        raise NotFound("unknown_request", "No such account request.")
    name = found["name"] or found["email"]
    received = sentences.moment(datetime.fromisoformat(found["created_at"]))
    verb = "goedkeuren" if approve else "afwijzen"
    return render(request, "confirm.html", {
        **guard.frame(actor, "aanvragen", f"Aanvraag van {name} {verb}"),
        "facts": [("Naam", found["name"] or "onbekend"), ("E-mailadres", found["email"]), ("Ontvangen", received)],
        "explanation": texts.CONFIRM_APPROVE if approve else texts.CONFIRM_REJECT,
        "action": f"/aanvragen/{number}/{'goedkeuren' if approve else 'afwijzen'}", "fields": {},
        "button": f"Ja, aanvraag van {name} {verb}", "danger": not approve, "back": "/aanvragen",
        "back_label": "Terug naar de accountaanvragen", "reason": not approve})


async def approve_form(request: Request) -> Response:
    return await _decide_form(request, True)


async def reject_form(request: Request) -> Response:
    return await _decide_form(request, False)


async def _decide(request: Request, approve: bool) -> Response:
    actor, org = await guard.beheerder(request, "requests.decide")
    st = state(request)
    number, reason = await decision(request)
    said = ("goedgekeurd; de aanvrager krijgt een e-mail met een activatielink" if approve
            else "afgewezen; de aanvrager krijgt hierover een e-mail")
    rows = await run_in_threadpool(account_service.org_requests, st.db, org)
    names = {r["id"]: r["name"] for r in rows if r["name"]}
    return await attempt(request, "/aanvragen",
                         lambda: account_service.org_decide(st.db, st.settings, actor.email, org, number, approve,
                                                            reason),
                         lambda view: f"De aanvraag van {names.get(number) or view['email']} is {said}.")


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


async def _change_form(request: Request, appoint: bool) -> Response:
    """The confirmation of appointing or removing a beheerder (R14): who, what follows; its button POSTs. Changes
    nothing. The account is one of the beheerder's own organisation (404 for any other)."""
    actor, org = await guard.beheerder(request, "beheerders.appoint" if appoint else "beheerders.remove")
    raw = request.query_params.get("email", "")
    if not raw.strip():
        return redirect("/beheerders")
    email = values.email(raw, "email")
    person = await run_in_threadpool(users.person, state(request).db, actor.email, org, email)
    name = person.name or person.email
    own = email == actor.email
    if appoint:
        title, explanation, button = (f"{name} aanwijzen als beheerder", texts.CONFIRM_APPOINT,
                                      f"Ja, {name} aanwijzen als beheerder")
    elif own:
        title, explanation, button = ("Beheerdersrol neerleggen", texts.CONFIRM_STEP_DOWN,
                                      "Ja, beheerdersrol neerleggen")
    else:
        title, explanation, button = (f"Beheerdersrol van {name} intrekken", texts.CONFIRM_REMOVE,
                                      f"Ja, beheerdersrol van {name} intrekken")
    return render(request, "confirm.html", {
        **guard.frame(actor, "beheerders", title), "facts": [("Naam", person.name or "onbekend"),
                                                             ("E-mailadres", person.email)],
        "explanation": explanation, "action": "/beheerders/aanwijzen" if appoint else "/beheerders/intrekken",
        "fields": {"email": person.email}, "button": button, "danger": not appoint, "back": "/beheerders",
        "back_label": "Terug naar de beheerders", "reason": False})


async def appoint_form(request: Request) -> Response:
    return await _change_form(request, True)


async def remove_form(request: Request) -> Response:
    return await _change_form(request, False)


async def _change(request: Request, action: str, change: Any, done: str) -> Response:
    actor, org = await guard.beheerder(request, action)
    st = state(request)
    email = values.email(text_field(await form(request), "email"), "email")
    person = await run_in_threadpool(users.person, st.db, actor.email, org, email)  # 404 outside the organisation
    # Whoever stepped down is no beheerder any more: their start page is their own account.
    own = email == actor.email and change is beheerders.remove
    said = texts.STEPPED_DOWN if own else done.format(name=person.name or email)
    return await attempt(request, "/beheerders", lambda: change(st.db, actor.email, org, email, st.settings.base_url),
                         lambda _: said, "/" if own else "/beheerders")


async def appoint(request: Request) -> Response:
    return await _change(request, "beheerders.appoint", beheerders.appoint,
                         "{name} is nu beheerder en heeft hierover een e-mail gekregen.")


async def remove(request: Request) -> Response:
    return await _change(request, "beheerders.remove", beheerders.remove,
                         "{name} is geen beheerder meer en heeft hierover een e-mail gekregen.")


routes = [
    route("/aanvragen", requests_page),
    route("/aanvragen/{id}/goedkeuren", approve_form),
    route("/aanvragen/{id}/goedkeuren", approve, "POST"),
    route("/aanvragen/{id}/afwijzen", reject_form),
    route("/aanvragen/{id}/afwijzen", reject, "POST"),
    route("/beheerders", beheerders_page),
    route("/beheerders/aanwijzen", appoint_form),
    route("/beheerders/aanwijzen", appoint, "POST"),
    route("/beheerders/intrekken", remove_form),
    route("/beheerders/intrekken", remove, "POST"),
]
