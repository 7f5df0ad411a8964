"""A beheerder's members: invitations (R7), new activation links (R8), deactivation and reactivation (R1, R4);
and the invitee's side of an invitation (the page behind ``/uitnodiging/{token}``).

``authz/api/members.py → authz/service/members.py → authz/store/{invitations,accounts,tokens}.py → SQL``. Every
beheerder endpoint first checks, through the Casbin model, that the logged-in account is an active beheerder of the
organisation in the path; a write that changes decisions returns once this instance has applied it (R11).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz import values
from authz.api import shapes
from authz.api.accounts import optional_body, path_id, path_token
from authz.api.http import JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.api.shapes import Body
from authz.identity import require_path_org
from authz.service import members
from authz.service.commit import after_commit
from authz.state import State, state

INVITE = Body(email=shapes.EMAIL)
ACCEPT = Body(password=shapes.PASSWORD, name=shapes.text(200, 0).optional())


def _invitation_id(request: Request) -> int:
    return path_id(request, "invitation", "No such invitation.")


# -- invitations (R7) -------------------------------------------------------------------------------------------

async def invite(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "invitations.create")
    st = state(request)
    f = INVITE.parse(await read_json(request, st.settings.max_body_bytes))
    outcome = await run_in_threadpool(members.invite, st.db, st.settings, actor, org, f["email"])
    await after_commit(st, outcome.revision)
    return JSONResponse(outcome.answer, status_code=201)


async def list_invitations(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "invitations.create")
    found = await run_in_threadpool(members.list_invitations, state(request).db, actor, org)
    return JSONResponse({"invitations": found})


async def withdraw_invitation(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "invitations.create")
    st = state(request)
    view = await run_in_threadpool(members.withdraw_invitation, st.db, actor, org, _invitation_id(request))
    await after_commit(st)
    return JSONResponse(view)


async def resend_invitation(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "invitations.create")
    st = state(request)
    invitation_id = _invitation_id(request)
    await optional_body(request, shapes.NO_FIELDS)
    view = await run_in_threadpool(members.resend_invitation, st.db, st.settings, actor, org, invitation_id)
    await after_commit(st)
    return JSONResponse(view)


async def invitation_info(request: Request) -> JSONResponse:
    st = state(request)
    return JSONResponse(await run_in_threadpool(members.invitation_info, st.db, path_token(request)))


async def accept_invitation(request: Request) -> JSONResponse:
    st = state(request)
    token = path_token(request)
    f = ACCEPT.parse(await read_json(request, st.settings.max_body_bytes))
    status = await run_in_threadpool(members.accept_invitation, st.db, st.settings, token, f["password"],
                                     f.get("name") or "")
    await after_commit(st)
    return JSONResponse({"status": status}, status_code=202)


# -- accounts ---------------------------------------------------------------------------------------------------

async def _on_account(request: Request, change: Callable[[State, str, str, str], Any],
                      action: str = "accounts.manage") -> JSONResponse:
    """A beheerder's change to one account of the organisation in the path (deactivation and reactivation, action
    ``accounts.status``, also the operator's: R18); the answer carries the revision that holds it, applied on this
    instance (R11)."""
    actor, org = await require_path_org(request, action)
    st = state(request)
    user = values.email(request.path_params["email"], "email")
    await optional_body(request, shapes.NO_FIELDS)
    outcome = await run_in_threadpool(change, st, actor, org, user)
    return JSONResponse({**outcome.answer, "revision": await after_commit(st, outcome.revision)})


async def resend_activation(request: Request) -> JSONResponse:
    return await _on_account(request, lambda st, actor, org, user: members.Outcome(members.resend_activation(
        st.db, st.settings, actor, org, user), None))


async def deactivate(request: Request) -> JSONResponse:
    return await _on_account(request, lambda st, actor, org, user: members.deactivate(
        st.db, st.sessions, actor, org, user), "accounts.status")


async def reactivate(request: Request) -> JSONResponse:
    return await _on_account(request, lambda st, actor, org, user: members.reactivate(
        st.db, st.settings, actor, org, user), "accounts.status")


# -- OpenAPI ----------------------------------------------------------------------------------------------------

_S = {"type": "string"}
_INVITATION = obj(["id", "email", "kvk", "invited_by", "status", "created_at", "expires_at", "lapsed"],
                  id={"type": "integer"}, email=_S, kvk=_S, invited_by=_S, created_at=_S, expires_at=_S,
                  status={"enum": ["open", "accepted", "withdrawn"]},
                  lapsed={"type": "boolean", "description": "open, but past its 21 days: send it again"})
_USER = obj(["email", "name", "org", "status", "roles", "lapsed"], email=_S, name=_S, org=_S, revision={
    "type": "integer"}, status={"enum": ["approved", "active", "inactive"]}, roles={"type": "array", "items": _S},
            lapsed={"type": "boolean"})

_TAG = "members"
_ORG = {404: ["unknown_invitation"], 422: ["invalid_kvk"]}
_ACCOUNT = {404: ["unknown_account"], 422: ["invalid_kvk", "invalid_email"]}
_ENDED = ["invitation_accepted", "invitation_withdrawn"]  # authz.store.invitations: no longer open
_TOKENS = {404: ["invalid_token"], 409: ["token_used", *_ENDED], 410: ["token_expired"]}
_ACCEPT = {**_TOKENS, 409: [*_TOKENS[409], "already_registered"]}  # an account or request was made meanwhile
routes = [
    Operation("POST", "/v1/orgs/{kvk}/invitations", invite, "invite", "R7: invite a business e-mail address (R10); "
              "the invitee gets a link /uitnodiging/{token}, valid 21 days. 409 for an existing account, an open "
              "request or invitation.", tag=_TAG, auth="session", status=201, body=INVITE,
              errors={409: ["already_invited", "already_registered", "email_unavailable"],
                      422: ["invalid_kvk", "invalid_email", "free_mail_domain", "email_domain_not_allowed"]},
              response=_INVITATION),
    Operation("GET", "/v1/orgs/{kvk}/invitations", list_invitations, "listInvitations", "The organisation's open "
              "invitations ('lapsed' past 21 days).", tag=_TAG, auth="session", errors={422: ["invalid_kvk"]},
              response=obj(["invitations"], invitations={"type": "array", "items": _INVITATION})),
    Operation("DELETE", "/v1/orgs/{kvk}/invitations/{id}", withdraw_invitation, "withdrawInvitation", "Withdraw an "
              "open invitation: its link stops working.", tag=_TAG, auth="session", errors={**_ORG, 409: _ENDED},
              response=_INVITATION),
    Operation("POST", "/v1/orgs/{kvk}/invitations/{id}/resend", resend_invitation, "resendInvitation", "Send an open "
              "invitation again: a new link, valid 21 days; the old link stops working.", tag=_TAG, auth="session",
              body=shapes.NO_FIELDS, errors={**_ORG, 409: ["already_registered", *_ENDED]},
              response=_INVITATION),
    Operation("GET", "/v1/invitations/{token}", invitation_info, "getInvitation", "Whether an invitation link is "
              "valid, and for which e-mail address and organisation (404 unknown, 409 used or withdrawn, 410 "
              "expired).", tag=_TAG, errors=_TOKENS,
              response=obj(["valid", "email", "kvk", "organisation_name", "expires_at"], valid={"const": True},
                           email=_S, kvk=_S, organisation_name=_S, expires_at=_S)),
    Operation("POST", "/v1/invitations/{token}/accept", accept_invitation, "acceptInvitation", "R7: the invitee "
              "chooses a password; an account request goes to the organisation's beheerders (each gets an e-mail). "
              "The link is used up.", tag=_TAG, status=202, body=ACCEPT, errors=_ACCEPT,
              response=obj(["status"], status={"enum": ["pending_beheerder", "pending_operator"]})),
    Operation("POST", "/v1/orgs/{kvk}/users/{email}/activation", resend_activation, "resendActivation", "R8: a new "
              "activation link (21 days) for an approved account; earlier links stop working.", tag=_TAG,
              auth="session", body=shapes.NO_FIELDS, errors={**_ACCOUNT, 409: ["not_activatable"]}, response=_USER),
    Operation("POST", "/v1/orgs/{kvk}/users/{email}/deactivate", deactivate, "deactivateUser", "Deactivate an "
              "account: every decision denies at once (R1), its sessions end, it gets an e-mail; 409 "
              "'last_beheerder' for the last active beheerder (R4).", tag=_TAG, auth="session", body=shapes.NO_FIELDS,
              errors={**_ACCOUNT, 409: ["last_beheerder", "already_inactive"]}, response=_USER),
    Operation("POST", "/v1/orgs/{kvk}/users/{email}/reactivate", reactivate, "reactivateUser", "Reactivate a "
              "deactivated account (one never activated gets a new activation link instead); it gets an e-mail.",
              tag=_TAG, auth="session", body=shapes.NO_FIELDS, errors={**_ACCOUNT, 409: ["not_inactive"]},
              response=_USER),
]
