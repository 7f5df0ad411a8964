"""A beheerder's members: invite a user (R7), send an invitation or activation link again (R8), deactivate and
reactivate an account (R1, R4).

The same functions of :mod:`authz.service.members` as ``/v1/orgs/{kvk}/invitations`` and
``/v1/orgs/{kvk}/users/{email}/…``, always for the beheerder's own organisation (another one's invitation or
account answers 404).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.web import attempt, form, redirect, render, route, text_field
from authz import values
from authz.domain import sentences
from authz.service import members, users
from authz.state import state

INVITE_PAGE = "/uitnodigen"


def _invitation_id(request: Request) -> int:
    return values.record_id(request.path_params["id"], "unknown_invitation", "No such invitation.")


def _local(at: Any) -> date:
    """An instant (or its ISO text) as its day in Europe/Amsterdam."""
    moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return moment.astimezone(sentences.AMSTERDAM).date()


# -- invitations (R7) -------------------------------------------------------------------------------------------

async def invitations_page(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "invitations.create")
    rows = await run_in_threadpool(members.list_invitations, state(request).db, actor.email, org)
    for r in rows:
        r["sent"] = sentences.day(_local(r["created_at"]))
        r["until"] = sentences.day(_local(r["expires_at"]))
    return render(request, "invitations.html", {**guard.frame(actor, "uitnodigen", "Gebruiker uitnodigen"),
                                                "invitations": rows})


async def invite(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "invitations.create")
    st = state(request)
    email = text_field(await form(request), "email")
    return await attempt(request, INVITE_PAGE,
                          lambda: members.invite(st.db, st.settings, actor.email, org, email),
                          lambda outcome: f"{outcome.answer['email']} heeft een uitnodiging per e-mail gekregen. "
                                          f"Na het aanmaken van het account vindt u de aanvraag bij "
                                          f"Accountaanvragen.")


async def resend_invitation(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "invitations.create")
    st = state(request)
    number = _invitation_id(request)
    return await attempt(request, INVITE_PAGE,
                          lambda: members.resend_invitation(st.db, st.settings, actor.email, org, number),
                          lambda view: f"De uitnodiging is opnieuw naar {view['email']} verstuurd; de oude link "
                                       f"werkt niet meer.")


async def withdraw_invitation(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "invitations.create")
    st = state(request)
    number = _invitation_id(request)
    return await attempt(request, INVITE_PAGE,
                          lambda: members.withdraw_invitation(st.db, actor.email, org, number),
                          lambda view: f"De uitnodiging van {view['email']} is ingetrokken.")


# -- one account: activation link, deactivate, reactivate --------------------------------------------------------

def _user_target(request: Request) -> tuple[str, str]:
    email = values.email(request.path_params["email"], "email")
    return email, f"/toegangsrechten/{quote(email)}"


async def resend_activation(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "accounts.manage")
    st = state(request)
    email, back = _user_target(request)
    return await attempt(request, back, lambda: members.resend_activation(st.db, st.settings, actor.email, org, email),
                          lambda view: f"{view['email']} heeft een nieuwe activatielink gekregen (21 dagen geldig).")


async def deactivate_form(request: Request) -> Response:
    """The confirmation of a deactivation: who, what it does; its button POSTs. Changes nothing."""
    actor, org = await guard.beheerder(request, "accounts.manage")
    email, back = _user_target(request)
    person = await run_in_threadpool(users.person, state(request).db, actor.email, org, email)  # 404 elsewhere
    if person.status == "inactive":
        return redirect(back)
    name = person.name or person.email
    return render(request, "confirm.html", {
        **guard.frame(actor, "rechten", f"Account van {name} deactiveren"),
        "facts": [("Naam", person.name or "onbekend"), ("E-mailadres", person.email)],
        "explanation": texts.CONFIRM_DEACTIVATE, "action": f"{back}/deactiveren", "fields": {},
        "button": f"Ja, account van {name} deactiveren", "danger": True, "back": back,
        "back_label": f"Terug naar {name}", "reason": False})


async def deactivate(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "accounts.status")
    st = state(request)
    email, back = _user_target(request)
    return await attempt(request, back, lambda: members.deactivate(st.db, st.sessions, actor.email, org, email),
                          lambda outcome: f"{email} is gedeactiveerd: het account kan niet meer inloggen en ziet geen "
                                          f"producten meer. {email} heeft hierover een e-mail gekregen.")


async def reactivate(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "accounts.status")
    st = state(request)
    email, back = _user_target(request)

    def said(outcome: members.Outcome) -> str:
        if outcome.answer.get("status") == "approved":
            return f"{email} is weer toegelaten en heeft een activatielink gekregen."
        return f"{email} is weer actief en heeft hierover een e-mail gekregen."

    return await attempt(request, back, lambda: members.reactivate(st.db, st.settings, actor.email, org, email),
                          said)


routes = [
    route(INVITE_PAGE, invitations_page),
    route(INVITE_PAGE, invite, "POST"),
    route(INVITE_PAGE + "/{id}/opnieuw", resend_invitation, "POST"),
    route(INVITE_PAGE + "/{id}/intrekken", withdraw_invitation, "POST"),
    route("/toegangsrechten/{email}/activatielink", resend_activation, "POST"),
    route("/toegangsrechten/{email}/deactiveren", deactivate_form),
    route("/toegangsrechten/{email}/deactiveren", deactivate, "POST"),
    route("/toegangsrechten/{email}/heractiveren", reactivate, "POST"),
]
