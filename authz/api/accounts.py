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

from authz.actor import Actor
from authz.api import shapes
from authz.api.http import JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.api.shapes import Body
from authz.domain.grants import Lapse
from authz.errors import Forbidden, Invalid
from authz.identity import (
    SESSION_COOKIE,
    client_address,
    close_session,
    current_actor,
    open_session,
    require_operator,
    require_path_org,
)
from authz.service import accounts as service
from authz.service import emails, mfa, mine, passwords
from authz.service.commit import after_commit
from authz.state import State, state
from authz.values import MAX_EMAIL, email, link_token, record_id

log = logging.getLogger(__name__)

def _secret(value: Any, name: str) -> str:
    """A password as typed at log-in: any text (not stripped); strength rules apply when one is chosen."""
    if not isinstance(value, str) or not 1 <= len(value) <= 256:
        raise Invalid("invalid_field", f"'{name}' must be text of 1 to 256 characters.")
    return value


SECRET = shapes.custom(_secret, {"type": "string", "minLength": 1, "maxLength": 256}, "invalid_field")
REGISTRATION = Body(email=shapes.EMAIL, password=shapes.PASSWORD, kvk=shapes.KVK,
                    organisation_name=shapes.text(200).optional(), name=shapes.text(200, 0).optional())
OTP = shapes.text(64).with_schema(description="a current TOTP code or an unused recovery code")
LOGIN = Body(email=shapes.EMAIL, password=SECRET, otp=OTP.optional(nullable=False))
REJECTION = Body(reason=shapes.text(1000, lines=True).optional())
# R5: approving a new organisation's first account, the operator may register its e-mail domains (R10).
APPROVAL = Body(domains=shapes.DOMAINS.optional(nullable=False))


async def optional_body(request: Request, spec: Body) -> dict[str, Any]:
    """A POST whose body may be left empty (still declared JSON: :class:`authz.api.http.JsonWrites`) or be ``{}``."""
    return spec.parse(await read_json(request, state(request).settings.max_body_bytes, empty=True))


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
    f = LOGIN.parse(await read_json(request, st.settings.max_body_bytes))
    token, actor = await run_in_threadpool(lambda: service.login(
        st.db, st.sessions, st.throttle, f["email"], f["password"], client_address(request),
        request.cookies.get(SESSION_COOKIE), secret_key=st.settings.secret_key, otp=f.get("otp")))
    resp = JSONResponse(_actor_view(st, actor))
    open_session(resp, token, st.settings.session_absolute_seconds, st.settings.base_url.startswith("https://"))
    return resp


async def whoami(request: Request) -> JSONResponse:
    st = state(request)
    return JSONResponse(_actor_view(st, await current_actor(request, enrolling=True)))


async def my_products(request: Request) -> JSONResponse:
    """R16: what the logged-in account may view now and which of its grants are inert, read from SQL at the moment
    asked (:func:`authz.service.mine.products`), so a beheerder's change shows on the next request."""
    actor = await current_actor(request)
    if actor.org is None:
        raise Forbidden("forbidden", "Only an account of an organisation holds grants.")
    found = await run_in_threadpool(mine.products, state(request).db, actor.email)
    return JSONResponse({"products": [p.view() for p in found.products], "inert": [i.view() for i in found.inert],
                         "revision": found.revision})


async def logout(request: Request) -> Response:
    st = state(request)
    actor = await current_actor(request, enrolling=True)
    await run_in_threadpool(service.logout, st.sessions, actor)
    resp = Response(status_code=204)
    close_session(resp, st.settings.base_url.startswith("https://"))
    return resp


# -- the second factor (R17) --------------------------------------------------------------------------------------

MFA_CODE = Body(otp=OTP)


async def mfa_status(request: Request) -> JSONResponse:
    actor = await current_actor(request, enrolling=True)
    st = state(request)
    return JSONResponse(await run_in_threadpool(mfa.status, st.db, st.settings, actor))


async def mfa_start(request: Request) -> JSONResponse:
    actor = await current_actor(request, enrolling=True)
    st = state(request)
    shapes.NO_FIELDS.parse(await read_json(request, st.settings.max_body_bytes))
    answer = await run_in_threadpool(mfa.start, st.db, st.settings, actor)
    await after_commit(st)
    return JSONResponse(answer)


async def mfa_confirm(request: Request) -> JSONResponse:
    actor = await current_actor(request, enrolling=True)
    st = state(request)
    f = MFA_CODE.parse(await read_json(request, st.settings.max_body_bytes))
    codes = await run_in_threadpool(mfa.confirm, st.db, st.settings, st.sessions, actor, f["otp"])
    await after_commit(st)
    return JSONResponse({"recovery_codes": codes})


async def mfa_disable(request: Request) -> Response:
    actor = await current_actor(request)
    st = state(request)
    f = MFA_CODE.parse(await read_json(request, st.settings.max_body_bytes))
    await run_in_threadpool(mfa.disable, st.db, st.settings, st.throttle, actor, f["otp"], client_address(request))
    await after_commit(st)
    return Response(status_code=204)


async def mfa_reset(request: Request) -> Response:
    actor = await require_operator(request, "operator.accounts")
    st = state(request)
    address = email(request.path_params["email"], "email")
    shapes.NO_FIELDS.parse(await read_json(request, st.settings.max_body_bytes))
    await run_in_threadpool(mfa.reset, st.db, st.sessions, actor.email, address)
    await after_commit(st)
    return Response(status_code=204)


# -- passwords ----------------------------------------------------------------------------------------------------

PASSWORD_CHANGE = Body(old_password=SECRET, new_password=shapes.PASSWORD)
RESET_REQUEST = Body(email=shapes.text(MAX_EMAIL))  # any text: one answer for every address, known or not
RESET = Body(password=shapes.PASSWORD)


async def change_password(request: Request) -> Response:
    actor = await current_actor(request)
    st = state(request)
    f = PASSWORD_CHANGE.parse(await read_json(request, st.settings.max_body_bytes))
    await run_in_threadpool(lambda: passwords.change_password(st.db, st.sessions, actor, f["old_password"],
                                                              f["new_password"], throttle=st.throttle,
                                                              address=client_address(request)))
    await after_commit(st)
    return Response(status_code=204)


async def request_reset(request: Request) -> JSONResponse:
    st = state(request)
    f = RESET_REQUEST.parse(await read_json(request, st.settings.max_body_bytes))
    await run_in_threadpool(passwords.request_password_reset, st.db, st.settings, f["email"], st.throttle,
                            client_address(request))
    await after_commit(st)
    # One answer for every address, known or not.
    return JSONResponse({"status": "accepted"}, status_code=202)


async def reset(request: Request) -> Response:
    st = state(request)
    token = path_token(request)
    f = RESET.parse(await read_json(request, st.settings.max_body_bytes))
    await run_in_threadpool(passwords.reset_password, st.db, st.sessions, token, f["password"])
    await after_commit(st)
    return Response(status_code=204)


# -- registration and activation --------------------------------------------------------------------------------

async def register(request: Request) -> JSONResponse:
    st = state(request)
    f = REGISTRATION.parse(await read_json(request, st.settings.max_body_bytes))
    reg = service.Registration(email=f["email"], password=f["password"], kvk=f["kvk"],
                               organisation_name=f.get("organisation_name"), name=f.get("name") or "")
    status = await run_in_threadpool(service.register, st.db, st.settings, reg, st.throttle, client_address(request))
    await after_commit(st)
    return JSONResponse({"status": status}, status_code=202)


async def activate(request: Request) -> JSONResponse:
    st = state(request)
    token = path_token(request)
    await optional_body(request, shapes.NO_FIELDS)
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
    f = await optional_body(request, REJECTION if not approve else APPROVAL)
    domains = (emails.org_domains(f["domains"], st.settings.free_mail_domains) if "domains" in f else None)
    view = await run_in_threadpool(service.operator_decide, st.db, st.settings, actor.email, request_id, approve,
                                   f.get("reason"), domains)
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
    f = await optional_body(request, REJECTION if not approve else shapes.NO_FIELDS)
    view = await run_in_threadpool(service.org_decide, st.db, st.settings, actor, org, request_id, approve,
                                   f.get("reason"))
    await after_commit(st)
    return JSONResponse(view)


async def org_approve(request: Request) -> JSONResponse:
    return await _org_decide(request, True)


async def org_reject(request: Request) -> JSONResponse:
    return await _org_decide(request, False)


_S = {"type": "string"}
_NS = {"type": ["string", "null"]}
_ACTOR = obj(["email", "org", "org_name", "roles", "status"], email=_S, org=_NS, org_name=_NS,
             roles={"type": "array", "items": _S}, status=_S)
_OP_REQUEST = obj(["id", "email", "kvk", "organisation_name", "status"], id={"type": "integer"}, email=_S, kvk=_S,
                  organisation_name=_NS, status=_S, created_at=_S, organisation_status=_NS,
                  name={"type": "string", "description": "the applicant's name, as given"})
_ORG_REQUEST = obj(["id", "email", "status", "created_at"], id={"type": "integer"}, email=_S, status=_S,
                   created_at=_S, name=_S, kind={"enum": ["registration", "invitation"]})
_MFA_STATUS = {"type": "object", "additionalProperties": False,  # obj() cannot take a field named 'required'
               "required": ["enrolled", "pending", "required", "recovery_codes_left"],
               "properties": {"enrolled": {"type": "boolean"}, "pending": {"type": "boolean"},
                              "required": {"type": "boolean"},
                              "recovery_codes_left": {"type": "integer", "minimum": 0}}}
_KVK = {"type": "string", "pattern": "^[0-9]{8}$"}
_CODE = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}
_VIEWABLE = obj(["product", "name", "afnemer", "afnemer_name", "granted_at"], product=_CODE, name=_S, afnemer=_KVK,
                afnemer_name=_S, granted_at={"type": "string", "format": "date-time",
                                             "description": "when the grant was ticked"})
_INERT = obj(["product", "name", "afnemer", "afnemer_name", "reason", "since"], product=_CODE, name=_S,
             afnemer=_KVK, afnemer_name=_S,
             reason={"enum": [str(r) for r in Lapse], "description":
                     "which contract or mandate gives nothing today: 'contract_ended' (the afnemer's contract for "
                     "the product ran out or was ended), 'contract_not_started' (it starts later), 'mandate_ended' "
                     "(the afnemer's mandate to the account's organisation ran out or was ended), "
                     "'mandate_not_started' (it starts later), 'mandate_excludes_product' (the mandate runs but no "
                     "longer covers the product)"},
             since={"type": ["string", "null"], "format": "date", "description":
                    "for *_ended the first day without access, for *_not_started the day it starts, for "
                    "'mandate_excludes_product' the day the mandate was changed; null when not recorded"})
_MINE = obj(["products", "inert", "revision"], products={"type": "array", "items": _VIEWABLE},
            inert={"type": "array", "items": _INERT}, revision={"type": "integer"})
_TAG, _REQUESTS = "sessions", "account requests"
_ID = {404: ["unknown_request"], 409: ["request_decided"]}
_ORG = {422: ["invalid_kvk"], **_ID}
_TOKENS = {404: ["invalid_token"], 409: ["token_used"], 410: ["token_expired"]}
routes = [
    Operation("POST", "/v1/session", login, "logIn", "Log in: sets the HttpOnly session cookie; 401 on bad "
              "credentials or an inactive account (one answer for all).", tag=_TAG, body=LOGIN,
              errors={401: ["invalid_credentials", "mfa_required", "invalid_otp"], 429: ["too_many_attempts"],
                      503: ["throttle_unavailable"]},
              response=_ACTOR),
    Operation("GET", "/v1/session/mfa", mfa_status, "mfaStatus", "R17: whether the account has a second factor "
              "(or one being set up), whether the policy requires one, and how many recovery codes are left.",
              tag=_TAG, auth="session", response=_MFA_STATUS),
    Operation("POST", "/v1/session/mfa", mfa_start, "mfaStart", "R17: begin setting up a second factor: a new TOTP "
              "secret and its otpauth:// URI, shown once; confirm it with a code.", tag=_TAG, auth="session",
              body=shapes.NO_FIELDS, errors={409: ["mfa_enrolled"]},
              response=obj(["secret", "otpauth_uri"], secret=_S, otpauth_uri=_S)),
    Operation("POST", "/v1/session/mfa/confirm", mfa_confirm, "mfaConfirm", "R17: activate the second factor with a "
              "current code; answers ten single-use recovery codes, shown once. Other sessions end.", tag=_TAG,
              auth="session", body=MFA_CODE, errors={403: ["invalid_otp"], 409: ["mfa_not_started"]},
              response=obj(["recovery_codes"], recovery_codes={"type": "array", "items": _S, "minItems": 10,
                                                               "maxItems": 10})),
    Operation("POST", "/v1/session/mfa/disable", mfa_disable, "mfaDisable", "R17: remove one's second factor with a "
              "current code or a recovery code (guesses are throttled as log-ins); where the policy requires a "
              "factor, the account can then only enrol again.", tag=_TAG, auth="session", status=204,
              body=MFA_CODE, errors={403: ["invalid_otp"], 409: ["mfa_not_enrolled"],
                                     429: ["too_many_attempts"], 503: ["throttle_unavailable"]}),
    Operation("POST", "/v1/operator/accounts/{email}/mfa-reset", mfa_reset, "mfaReset", "R17: the operator removes "
              "an account's lost second factor (audited as the operator's; the user is e-mailed; its sessions "
              "end).", tag=_REQUESTS, auth="session", status=204, body=shapes.NO_FIELDS,
              errors={404: ["unknown_account"], 409: ["mfa_not_enrolled"], 422: ["invalid_email"]}),
    Operation("GET", "/v1/session", whoami, "whoAmI", "The logged-in account: e-mail, organisation, roles.",
              tag=_TAG, auth="session", response=_ACTOR),
    Operation("GET", "/v1/session/products", my_products, "myProducts", "R16, Mijn producten: the products the "
              "logged-in account may view now (as /v1/check answers), per afnemer, and the grants it holds that are "
              "inert, with which contract or mandate ended and since when. Read at the moment asked, at 'revision'. "
              "403 for an account of no organisation.", tag=_TAG, auth="session", response=_MINE),
    Operation("DELETE", "/v1/session", logout, "logOut", "Log out: ends the session (401 when not logged in).",
              tag=_TAG, auth="session", status=204),
    Operation("POST", "/v1/session/password", change_password, "changePassword", "Change one's own password (the "
              "old one required, else 403 'wrong_password'); the account's other sessions end, it gets an e-mail.",
              tag=_TAG, auth="session", status=204, body=PASSWORD_CHANGE,
              errors={403: ["wrong_password", "account_not_active"], 422: ["same_password"],
                      429: ["too_many_attempts"]}),
    Operation("POST", "/v1/password-resets", request_reset, "requestPasswordReset", "Ask for a password-reset link "
              "(1 hour, single use) by e-mail; the same 202 for every address, known or not.", tag=_TAG,
              status=202, body=RESET_REQUEST, errors={429: ["too_many_requests"]},
              response=obj(["status"], status={"const": "accepted"})),
    Operation("POST", "/v1/password-resets/{token}", reset, "resetPassword", "Set a new password with the link from "
              "the e-mail (single use, 1 hour); every session of the account ends.", tag=_TAG, status=204,
              body=RESET, errors={**_TOKENS, 403: ["account_not_active"]}),
    Operation("POST", "/v1/registrations", register, "register", "Request an account with a business e-mail (R5, "
              "R6, R10); the first account of an organisation goes to the operator, later ones to its beheerders. "
              "An address that has an account or an open request gets the same answer (and an e-mail).",
              tag=_REQUESTS, status=202, body=REGISTRATION,
              errors={422: ["free_mail_domain", "email_domain_not_allowed"], 429: ["too_many_requests"]},
              response=obj(["status"], status={"enum": ["pending_operator", "pending_beheerder"]})),
    Operation("POST", "/v1/activations/{token}", activate, "activate", "Activate an approved account with the link "
              "from its e-mail (R8): single use, valid 21 days.", tag=_REQUESTS, body=shapes.NO_FIELDS,
              errors={**_TOKENS, 409: ["token_used", "not_activatable"]},
              response=obj(["email", "status"], email=_S, status={"const": "active"})),
    Operation("GET", "/v1/operator/requests", operator_list, "listOperatorRequests", "Open requests for the "
              "operator: first accounts, unknown organisations.", tag=_REQUESTS, auth="session",
              response=obj(["requests"], requests={"type": "array", "items": _OP_REQUEST})),
    Operation("POST", "/v1/operator/requests/{id}/approve", operator_approve, "approveOperatorRequest", "Approve: "
              "verifies a pending organisation; the account becomes its beheerder and gets an activation e-mail. "
              "'domains' registers the organisation's e-mail domains (R10) with it; the applicant's address must "
              "be in one of them.", tag=_REQUESTS, auth="session", body=APPROVAL,
              errors={**_ID, 409: [*_ID[409], "not_for_operator", "account_exists"],
                      422: ["invalid_domain", "free_mail_domain", "email_domain_not_allowed"]},
              response=_OP_REQUEST),
    Operation("POST", "/v1/operator/requests/{id}/reject", operator_reject, "rejectOperatorRequest", "Reject; the "
              "applicant gets an e-mail (with the optional reason).", tag=_REQUESTS, auth="session",
              body=REJECTION, errors=_ID, response=_OP_REQUEST),
    Operation("GET", "/v1/orgs/{kvk}/requests", org_list, "listOrgRequests", "Open account requests of the "
              "organisation (beheerder).", tag=_REQUESTS, auth="session", errors={422: ["invalid_kvk"]},
              response=obj(["requests"], requests={"type": "array", "items": _ORG_REQUEST})),
    Operation("POST", "/v1/orgs/{kvk}/requests/{id}/approve", org_approve, "approveOrgRequest", "Approve: the "
              "account is made and gets an activation e-mail.", tag=_REQUESTS, auth="session", body=shapes.NO_FIELDS,
              errors=_ORG, response=_ORG_REQUEST),
    Operation("POST", "/v1/orgs/{kvk}/requests/{id}/reject", org_reject, "rejectOrgRequest", "Reject; the "
              "applicant gets an e-mail (with the optional reason).", tag=_REQUESTS, auth="session",
              body=REJECTION, errors=_ORG, response=_ORG_REQUEST),
]
