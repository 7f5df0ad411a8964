"""Sessions and the way into the portal: log-in (throttled), passwords, registration (R5, R6), decisions on
requests, activation (R8).

``authz/api/accounts.py → authz/service/{accounts,passwords}.py → authz/store/{requests,accounts,tokens}.py → SQL``;
sessions live in ``authz/cache/sessions.py`` (SQL or Redis), failed log-ins are counted by
``authz/cache/throttle.py``; e-mails go through the outbox (``authz/mail.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authz.api.http import Field, JSONResponse, UnsupportedMedia, fields, read_json
from authz.api.openapi import describe, obj
from authz.errors import Invalid
from authz.identity import (
    SESSION_COOKIE,
    Actor,
    client_address,
    close_session,
    current_actor,
    open_session,
    require_operator,
    require_path_org,
)
from authz.service import accounts as service
from authz.service import passwords
from authz.service.commit import after_commit
from authz.state import State, state
from authz.values import MAX_EMAIL, email, kvk, link_token, password, record_id, text

log = logging.getLogger(__name__)

def _secret(value: Any, name: str) -> str:
    """A password as typed at log-in: any text (not stripped); strength rules apply when one is chosen."""
    if not isinstance(value, str) or not 1 <= len(value) <= 256:
        raise Invalid("invalid_field", f"'{name}' must be text of 1 to 256 characters.")
    return value


REGISTRATION = {
    "email": Field(email),
    "password": Field(password),
    "kvk": Field(kvk),
    "organisation_name": Field(text(200), required=False, nullable=True),
    "name": Field(text(200, 0), required=False, nullable=True),
}
LOGIN = {"email": Field(email), "password": Field(_secret)}
REJECTION = {"reason": Field(text(1000), required=False, nullable=True)}


async def optional_body(request: Request, spec: dict[str, Field]) -> dict[str, Any]:
    """A POST whose body may be left out; a body that is sent must be JSON (415 otherwise) with known fields."""
    if "content-type" not in request.headers:
        async for chunk in request.stream():  # not read whole: an undeclared body is refused at its first byte
            if chunk:
                raise UnsupportedMedia("unsupported_media_type", "Send the body as Content-Type: application/json.")
        return {}
    return fields(await read_json(request, state(request).settings.max_body_bytes), spec)


def path_id(request: Request, what: str = "request", message: str = "No such account request.") -> int:
    return record_id(request.path_params["id"], f"unknown_{what}", message)


def path_token(request: Request) -> str:
    return link_token(request.path_params["token"])


def _actor_view(st: State, actor: Actor) -> dict[str, Any]:
    return {"email": actor.email, "org": actor.org,
            "org_name": actor.org_name,
            "roles": sorted(actor.roles), "status": actor.status}


# -- sessions ---------------------------------------------------------------------------------------------------

async def login(request: Request) -> JSONResponse:
    st = state(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), LOGIN)
    token, actor = await run_in_threadpool(service.login, st.db, st.sessions, st.throttle, f["email"],
                                           f["password"], client_address(request), request.cookies.get(SESSION_COOKIE))
    resp = JSONResponse(_actor_view(st, actor))
    open_session(resp, token, st.settings.session_absolute_seconds, st.settings.base_url.startswith("https://"))
    return resp


async def whoami(request: Request) -> JSONResponse:
    st = state(request)
    return JSONResponse(_actor_view(st, await current_actor(request)))


async def logout(request: Request) -> Response:
    st = state(request)
    actor = await current_actor(request)
    await run_in_threadpool(service.logout, st.sessions, actor)
    resp = Response(status_code=204)
    close_session(resp, st.settings.base_url.startswith("https://"))
    return resp


# -- passwords ----------------------------------------------------------------------------------------------------

PASSWORD_CHANGE = {"old_password": Field(_secret), "new_password": Field(password)}
RESET_REQUEST = {"email": Field(text(MAX_EMAIL))}
RESET = {"password": Field(password)}


async def change_password(request: Request) -> Response:
    actor = await current_actor(request)
    st = state(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), PASSWORD_CHANGE)
    await run_in_threadpool(lambda: passwords.change_password(st.db, st.sessions, actor, f["old_password"],
                                                              f["new_password"], throttle=st.throttle,
                                                              address=client_address(request)))
    await after_commit(st)
    return Response(status_code=204)


async def request_reset(request: Request) -> JSONResponse:
    st = state(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), RESET_REQUEST)
    await run_in_threadpool(passwords.request_password_reset, st.db, st.settings, f["email"], st.throttle,
                            client_address(request))
    await after_commit(st)
    # One answer for every address, known or not.
    return JSONResponse({"status": "accepted"}, status_code=202)


async def reset(request: Request) -> Response:
    st = state(request)
    token = path_token(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), RESET)
    await run_in_threadpool(passwords.reset_password, st.db, st.sessions, token, f["password"])
    await after_commit(st)
    return Response(status_code=204)


# -- registration and activation --------------------------------------------------------------------------------

async def register(request: Request) -> JSONResponse:
    st = state(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), REGISTRATION)
    reg = service.Registration(email=f["email"], password=f["password"], kvk=f["kvk"],
                               organisation_name=f.get("organisation_name"), name=f.get("name") or "")
    status = await run_in_threadpool(service.register, st.db, st.settings, reg)
    await after_commit(st)
    return JSONResponse({"status": status}, status_code=202)


async def activate(request: Request) -> JSONResponse:
    st = state(request)
    token = path_token(request)
    await optional_body(request, {})
    address = await run_in_threadpool(service.activate, st.db, token)
    await after_commit(st)
    return JSONResponse({"email": address, "status": "active"})


# -- the operator's requests (R5) -------------------------------------------------------------------------------

async def operator_list(request: Request) -> JSONResponse:
    await require_operator(request, "operator.requests")
    st = state(request)
    return JSONResponse({"requests": await run_in_threadpool(service.operator_requests, st.db)})


async def _operator_decide(request: Request, approve: bool) -> JSONResponse:
    actor = await require_operator(request, "operator.requests")
    st = state(request)
    request_id = path_id(request)
    f = await optional_body(request, REJECTION if not approve else {})
    view = await run_in_threadpool(service.operator_decide, st.db, st.settings, actor.email, request_id, approve,
                                   f.get("reason"))
    await after_commit(st)
    return JSONResponse(view)


async def operator_approve(request: Request) -> JSONResponse:
    return await _operator_decide(request, True)


async def operator_reject(request: Request) -> JSONResponse:
    return await _operator_decide(request, False)


# -- a beheerder's requests (R6, R7) ----------------------------------------------------------------------------

async def org_list(request: Request) -> JSONResponse:
    _, org = await require_path_org(request, "requests.list")
    st = state(request)
    return JSONResponse({"requests": await run_in_threadpool(service.org_requests, st.db, org)})


async def _org_decide(request: Request, approve: bool) -> JSONResponse:
    actor, org = await require_path_org(request, "requests.decide")
    st = state(request)
    request_id = path_id(request)
    f = await optional_body(request, REJECTION if not approve else {})
    view = await run_in_threadpool(service.org_decide, st.db, st.settings, actor, org, request_id, approve,
                                   f.get("reason"))
    await after_commit(st)
    return JSONResponse(view)


async def org_approve(request: Request) -> JSONResponse:
    return await _org_decide(request, True)


async def org_reject(request: Request) -> JSONResponse:
    return await _org_decide(request, False)


routes = [
    Route("/v1/session", login, methods=["POST"]),
    Route("/v1/session", whoami, methods=["GET"]),
    Route("/v1/session", logout, methods=["DELETE"]),
    Route("/v1/session/password", change_password, methods=["POST"]),
    Route("/v1/password-resets", request_reset, methods=["POST"]),
    Route("/v1/password-resets/{token}", reset, methods=["POST"]),
    Route("/v1/registrations", register, methods=["POST"]),
    Route("/v1/activations/{token}", activate, methods=["POST"]),
    Route("/v1/operator/requests", operator_list, methods=["GET"]),
    Route("/v1/operator/requests/{id}/approve", operator_approve, methods=["POST"]),
    Route("/v1/operator/requests/{id}/reject", operator_reject, methods=["POST"]),
    Route("/v1/orgs/{kvk}/requests", org_list, methods=["GET"]),
    Route("/v1/orgs/{kvk}/requests/{id}/approve", org_approve, methods=["POST"]),
    Route("/v1/orgs/{kvk}/requests/{id}/reject", org_reject, methods=["POST"]),
]

_S = {"type": "string"}
_NS = {"type": ["string", "null"]}
_ACTOR = obj(["email", "org", "org_name", "roles", "status"], email=_S, org=_NS, org_name=_NS,
             roles={"type": "array", "items": _S}, status=_S)
_REASON = obj([], reason={"type": ["string", "null"], "maxLength": 1000})
_OP_REQUEST = obj(["id", "email", "kvk", "organisation_name", "status"], id={"type": "integer"}, email=_S, kvk=_S,
                  organisation_name=_NS, status=_S, created_at=_S, organisation_status=_NS)
_ORG_REQUEST = obj(["id", "email", "status", "created_at"], id={"type": "integer"}, email=_S, status=_S,
                   created_at=_S, name=_S, kind={"enum": ["registration", "invitation"]})
describe("post", "/v1/session", "Log in: sets the HttpOnly session cookie; 401 on bad credentials or an inactive "
         "account (one answer for all).", request=obj(["email", "password"], email=_S, password=_S),
         response=_ACTOR)
describe("get", "/v1/session", "The logged-in account: e-mail, organisation, roles.", auth="session",
         response=_ACTOR)
describe("delete", "/v1/session", "Log out: ends the session (401 when not logged in).", auth="session", status=204)
describe("post", "/v1/session/password", "Change one's own password (the old one required, else 403 "
         "'wrong_password'); the account's other sessions end, it gets an e-mail.", auth="session", status=204,
         request=obj(["old_password", "new_password"], old_password=_S,
                     new_password={"type": "string", "minLength": 12}))
describe("post", "/v1/password-resets", "Ask for a password-reset link (1 hour, single use) by e-mail; the same 202 "
         "for every address, known or not.", status=202, request=obj(["email"], email=_S),
         response=obj(["status"], status={"const": "accepted"}))
describe("post", "/v1/password-resets/{token}", "Set a new password with the link from the e-mail (single use, 1 "
         "hour); every session of the account ends.", status=204,
         request=obj(["password"], password={"type": "string", "minLength": 12}))
describe("post", "/v1/registrations", "Request an account with a business e-mail (R5, R6, R10); the first account "
         "of an organisation goes to the operator, later ones to its beheerders.", status=202,
         request=obj(["email", "password", "kvk"], email=_S, password={"type": "string", "minLength": 12},
                     kvk={"type": "string", "pattern": "^[0-9]{8}$"}, organisation_name=_NS, name=_NS),
         response=obj(["status"], status={"enum": ["pending_operator", "pending_beheerder"]}))
describe("post", "/v1/activations/{token}", "Activate an approved account with the link from its e-mail (R8): "
         "single use, valid 21 days.", response=obj(["email", "status"], email=_S, status={"const": "active"}))
describe("get", "/v1/operator/requests", "Open requests for the operator: first accounts, unknown organisations.",
         auth="session", response=obj(["requests"], requests={"type": "array", "items": _OP_REQUEST}))
describe("post", "/v1/operator/requests/{id}/approve", "Approve: verifies a pending organisation; the account "
         "becomes its beheerder and gets an activation e-mail.", auth="session", response=_OP_REQUEST)
describe("post", "/v1/operator/requests/{id}/reject", "Reject; the applicant gets an e-mail (with the optional "
         "reason).", auth="session", request=_REASON, response=_OP_REQUEST)
describe("get", "/v1/orgs/{kvk}/requests", "Open account requests of the organisation (beheerder).",
         auth="session", response=obj(["requests"], requests={"type": "array", "items": _ORG_REQUEST}))
describe("post", "/v1/orgs/{kvk}/requests/{id}/approve", "Approve: the account is made and gets an activation "
         "e-mail.", auth="session", response=_ORG_REQUEST)
describe("post", "/v1/orgs/{kvk}/requests/{id}/reject", "Reject; the applicant gets an e-mail (with the optional "
         "reason).", auth="session", request=_REASON, response=_ORG_REQUEST)
