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
from starlette.routing import Route

from authz import values
from authz.api.accounts import optional_body, path_id, path_token
from authz.api.http import Field, JSONResponse, fields, read_json
from authz.api.openapi import describe, obj
from authz.identity import require_path_org
from authz.service import members
from authz.service.commit import after_commit
from authz.state import State, state

INVITE = {"email": Field(values.email)}
ACCEPT = {"password": Field(values.password), "name": Field(values.text(200, 0), required=False, nullable=True)}


def _invitation_id(request: Request) -> int:
    return path_id(request, "invitation", "No such invitation.")


# -- invitations (R7) -------------------------------------------------------------------------------------------

async def invite(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "invitations.create")
    st = state(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), INVITE)
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
    await optional_body(request, {})
    view = await run_in_threadpool(members.resend_invitation, st.db, st.settings, actor, org, invitation_id)
    await after_commit(st)
    return JSONResponse(view)


async def invitation_info(request: Request) -> JSONResponse:
    st = state(request)
    return JSONResponse(await run_in_threadpool(members.invitation_info, st.db, path_token(request)))


async def accept_invitation(request: Request) -> JSONResponse:
    st = state(request)
    token = path_token(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), ACCEPT)
    status = await run_in_threadpool(members.accept_invitation, st.db, st.settings, token, f["password"],
                                     f.get("name") or "")
    await after_commit(st)
    return JSONResponse({"status": status}, status_code=202)


# -- accounts ---------------------------------------------------------------------------------------------------

async def _on_account(request: Request, change: Callable[[State, str, str, str], Any]) -> JSONResponse:
    """A beheerder's change to one account of the organisation in the path; the answer carries the revision that
    holds it, applied on this instance (R11)."""
    actor, org = await require_path_org(request, "accounts.manage")
    st = state(request)
    user = values.email(request.path_params["email"], "email")
    await optional_body(request, {})
    outcome = await run_in_threadpool(change, st, actor, org, user)
    return JSONResponse({**outcome.answer, "revision": await after_commit(st, outcome.revision)})


async def resend_activation(request: Request) -> JSONResponse:
    return await _on_account(request, lambda st, actor, org, user: members.Outcome(members.resend_activation(
        st.db, st.settings, actor, org, user), None))


async def deactivate(request: Request) -> JSONResponse:
    return await _on_account(request, lambda st, actor, org, user: members.deactivate(
        st.db, st.sessions, actor, org, user))


async def reactivate(request: Request) -> JSONResponse:
    return await _on_account(request, lambda st, actor, org, user: members.reactivate(
        st.db, st.settings, actor, org, user))


routes = [
    Route("/v1/orgs/{kvk}/invitations", invite, methods=["POST"]),
    Route("/v1/orgs/{kvk}/invitations", list_invitations, methods=["GET"]),
    Route("/v1/orgs/{kvk}/invitations/{id}", withdraw_invitation, methods=["DELETE"]),
    Route("/v1/orgs/{kvk}/invitations/{id}/resend", resend_invitation, methods=["POST"]),
    Route("/v1/invitations/{token}", invitation_info, methods=["GET"]),
    Route("/v1/invitations/{token}/accept", accept_invitation, methods=["POST"]),
    Route("/v1/orgs/{kvk}/users/{email}/activation", resend_activation, methods=["POST"]),
    Route("/v1/orgs/{kvk}/users/{email}/deactivate", deactivate, methods=["POST"]),
    Route("/v1/orgs/{kvk}/users/{email}/reactivate", reactivate, methods=["POST"]),
]

# -- OpenAPI ----------------------------------------------------------------------------------------------------

_S = {"type": "string"}
_INVITATION = obj(["id", "email", "kvk", "invited_by", "status", "created_at", "expires_at", "lapsed"],
                  id={"type": "integer"}, email=_S, kvk=_S, invited_by=_S, created_at=_S, expires_at=_S,
                  status={"enum": ["open", "accepted", "withdrawn"]},
                  lapsed={"type": "boolean", "description": "open, but past its 21 days: send it again"})
_USER = obj(["email", "name", "org", "status", "roles", "lapsed"], email=_S, name=_S, org=_S, revision={
    "type": "integer"}, status={"enum": ["approved", "active", "inactive"]}, roles={"type": "array", "items": _S},
            lapsed={"type": "boolean"})

describe("post", "/v1/orgs/{kvk}/invitations", "R7: invite a business e-mail address (R10); the invitee gets a link "
         "/uitnodiging/{token}, valid 21 days. 409 for an existing account, an open request or invitation.",
         auth="session", status=201, request=obj(["email"], email=_S), response=_INVITATION)
describe("get", "/v1/orgs/{kvk}/invitations", "The organisation's open invitations ('lapsed' past 21 days).",
         auth="session", response=obj(["invitations"], invitations={"type": "array", "items": _INVITATION}))
describe("delete", "/v1/orgs/{kvk}/invitations/{id}", "Withdraw an open invitation: its link stops working.",
         auth="session", response=_INVITATION)
describe("post", "/v1/orgs/{kvk}/invitations/{id}/resend", "Send an open invitation again: a new link, valid 21 "
         "days; the old link stops working.", auth="session", response=_INVITATION)
describe("get", "/v1/invitations/{token}", "Whether an invitation link is valid, and for which e-mail address and "
         "organisation (404 unknown, 409 used or withdrawn, 410 expired).",
         response=obj(["valid", "email", "kvk", "organisation_name", "expires_at"], valid={"const": True}, email=_S,
                      kvk=_S, organisation_name=_S, expires_at=_S))
describe("post", "/v1/invitations/{token}/accept", "R7: the invitee chooses a password; an account request goes to "
         "the organisation's beheerders (each gets an e-mail). The link is used up.", status=202,
         request=obj(["password"], password={"type": "string", "minLength": 12}, name={"type": ["string", "null"]}),
         response=obj(["status"], status={"enum": ["pending_beheerder", "pending_operator"]}))
describe("post", "/v1/orgs/{kvk}/users/{email}/activation", "R8: a new activation link (21 days) for an approved "
         "account; earlier links stop working.", auth="session", response=_USER)
describe("post", "/v1/orgs/{kvk}/users/{email}/deactivate", "Deactivate an account: every decision denies at once "
         "(R1), its sessions end, it gets an e-mail; 409 'last_beheerder' for the last active beheerder (R4).",
         auth="session", response=_USER)
describe("post", "/v1/orgs/{kvk}/users/{email}/reactivate", "Reactivate a deactivated account (one never activated "
         "gets a new activation link instead); it gets an e-mail.", auth="session", response=_USER)
