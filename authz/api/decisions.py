"""The decision API for service clients: /v1/check and friends, and the AuthZEN evaluation endpoints.

Answered from this instance's decider: no SQL on these paths except /v1/explain.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import Route

from authz.api.http import Field, JSONResponse, fields, read_json
from authz.api.openapi import describe, obj
from authz.decider import Decision
from authz.errors import Invalid, Unavailable
from authz.identity import SESSION_COOKIE, service_client
from authz.state import State, state
from authz.values import CODE_RE, MAX_EMAIL, code, email, integer, kvk, whole_number

MAX_BATCH = 1000
CHECK = {
    "user": Field(email),
    "product": Field(code),
    "afnemer": Field(kvk, required=False, nullable=True),
    "min_revision": Field(integer(0), required=False, nullable=True),
}


def _known_afnemer(st: State, value: str | None) -> str | None:
    if value is not None and value not in st.decider.orgs:
        raise Invalid("unknown_afnemer", f"No organisation with KvK number {value} is known.")
    return value


def _decide(st: State, body: Any) -> Decision:
    decision = st.decider.check(*_check_fields(st, body))
    st.metrics.checks[decision.reason] += 1
    return decision


def _check_fields(st: State, body: Any) -> tuple[str, str, str | None]:
    """(user, product, afnemer) of a check body. The common, valid shape is recognised with a few comparisons;
    anything else goes through the general validator, which names what is wrong."""
    if type(body) is dict and body.keys() <= CHECK.keys():
        user, product = body.get("user"), body.get("product")
        afnemer, min_revision = body.get("afnemer"), body.get("min_revision")
        if (type(user) is str and "@" in user and len(user) <= MAX_EMAIL and user.strip()
                and type(product) is str
                and (product in st.decider.products or CODE_RE.fullmatch(product) is not None)
                and (afnemer is None or (type(afnemer) is str and afnemer in st.decider.orgs))
                and (min_revision is None or (type(min_revision) is int and min_revision >= 0))):
            return user.strip().lower(), product, afnemer
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "Each check must be a JSON object.")
    f = fields(body, CHECK)
    return f["user"], f["product"], _known_afnemer(st, f.get("afnemer"))


def _answer(d: Decision) -> dict[str, Any]:
    # orjson writes the StrEnum reason as its value and the tuple as an array.
    return {"allowed": d.allowed, "reason": d.reason, "afnemers": d.afnemers}


async def _vouch(st: State, min_revision: Any) -> None:
    """Never answer from data this instance cannot vouch for (SPEC §5), and honour ``min_revision``."""
    await st.sync.ensure_current()
    if min_revision is None:
        return
    wanted = integer(0)(min_revision, "min_revision")
    if st.decider.revision < wanted and not await st.sync.wait_for(wanted, st.settings.min_revision_wait):
        raise Unavailable("stale", f"This instance could not reach revision {wanted} in time "
                                   f"(it is at {st.decider.revision}); try again.")


async def check(request: Request) -> JSONResponse:
    service_client(request)
    st = state(request)
    body = await read_json(request, st.settings.max_body_bytes)
    min_revision = body.get("min_revision")
    if min_revision is not None or not st.sync.current():
        await _vouch(st, min_revision)
    d = _decide(st, body)
    return JSONResponse({"allowed": d.allowed, "reason": d.reason, "afnemers": d.afnemers, "revision": d.revision})


async def check_batch(request: Request) -> JSONResponse:
    service_client(request)
    st = state(request)
    body = await read_json(request, st.settings.max_body_bytes)
    f = fields(body, {"checks": Field(lambda v, n: v), "min_revision": Field(integer(0), False, True)})
    checks = f["checks"]
    if not isinstance(checks, list):
        raise Invalid("invalid_field", "'checks' must be a list of checks.")
    if len(checks) > MAX_BATCH:
        raise Invalid("batch_too_large", f"A batch holds at most {MAX_BATCH} checks.")
    await _vouch(st, f.get("min_revision"))
    revision = st.decider.revision
    results = [_answer(_decide(st, c)) for c in checks]  # no await between: one revision for all
    return JSONResponse({"results": results, "revision": revision})


async def user_products(request: Request) -> JSONResponse:
    service_client(request)
    st = state(request)
    user = email(request.path_params["email"], "email")
    await _vouch(st, None)
    rows = st.decider.products_of(user)
    return JSONResponse({"products": [{"product": p, "afnemer": a} for p, a in rows],
                         "revision": st.decider.revision})


def cursor_decode(raw: str) -> tuple[str, str]:
    try:
        user, afnemer = orjson.loads(base64.urlsafe_b64decode(raw.encode() + b"=="))
        return str(user), str(afnemer)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Invalid("invalid_cursor", "The cursor is not one this service gave out.") from None


def cursor_encode(user: str, afnemer: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([user, afnemer])).decode().rstrip("=")


async def product_users(request: Request) -> JSONResponse:
    if "at" in request.query_params or ("authorization" not in request.headers and SESSION_COOKIE in request.cookies):
        # A point-in-time question, or a reviewer with a session: answered from the audit trail, not from memory.
        from authz.api.review import product_users_at

        return await product_users_at(request)
    service_client(request)
    st = state(request)
    product = code(request.path_params["code"], "code")
    q = request.query_params
    unknown = sorted(set(q) - {"afnemer", "cursor", "limit"})
    if unknown:
        raise Invalid("unknown_parameter", f"Unknown query parameter(s): {', '.join(unknown)}.")
    afnemer = _known_afnemer(st, kvk(q["afnemer"], "afnemer") if "afnemer" in q else None)
    limit = 100
    if "limit" in q:
        n = whole_number(q["limit"])
        if n is None or not 1 <= n <= 1000:
            raise Invalid("invalid_limit", "'limit' must be a whole number from 1 to 1000.")
        limit = n
    after = cursor_decode(q["cursor"]) if "cursor" in q else None
    await _vouch(st, None)
    users: list[dict[str, str]] = []
    next_cursor = None
    for user, a in st.decider.users_of(product, afnemer, after):
        if len(users) == limit:
            last = users[-1]
            next_cursor = cursor_encode(last["user"], last["afnemer"])
            break
        users.append({"user": user, "afnemer": a})
    return JSONResponse({"users": users, "cursor": next_cursor, "revision": st.decider.revision})


# -- OpenID AuthZEN Authorization API 1.0 ---------------------------------------------------------------------

def _authzen_check(st: State, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "Each evaluation must be a JSON object.")
    f = fields(body, {"subject": Field(dict_of("subject")), "resource": Field(dict_of("resource")),
                      "action": Field(dict_of("action")), "context": Field(dict_of("context"), False)})
    subject, resource, action = f["subject"], f["resource"], f["action"]
    fields(subject, {"type": Field(literal("user")), "id": Field(email), "properties": Field(dict_of("p"), False)})
    fields(resource, {"type": Field(literal("product")), "id": Field(code),
                      "properties": Field(dict_of("properties"), False)})
    fields(action, {"name": Field(literal("view")), "properties": Field(dict_of("properties"), False)})
    props = resource.get("properties") or {}
    fields(props, {"afnemer": Field(kvk, False, True)})
    check_body = {"user": subject["id"], "product": resource["id"]}
    if props.get("afnemer") is not None:
        check_body["afnemer"] = props["afnemer"]
    d = _decide(st, check_body)
    return {"decision": d.allowed, "context": {"reason": d.reason.value, "afnemers": list(d.afnemers)}}


def dict_of(name: str) -> Any:
    def parse(value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid("invalid_field", f"'{field}' must be a JSON object.")
        return value

    return parse


def literal(expected: str) -> Any:
    def parse(value: Any, field: str) -> str:
        if value != expected:
            raise Invalid("unsupported", f"'{field}' must be '{expected}'.")
        return expected

    return parse


async def evaluation(request: Request) -> JSONResponse:
    service_client(request)
    st = state(request)
    body = await read_json(request, st.settings.max_body_bytes)
    await _vouch(st, None)
    return JSONResponse(_authzen_check(st, body))


async def evaluations(request: Request) -> JSONResponse:
    """AuthZEN boxcarring: top-level subject/resource/action are defaults for each item of ``evaluations``."""
    service_client(request)
    st = state(request)
    body = await read_json(request, st.settings.max_body_bytes)
    f = fields(body, {"subject": Field(dict_of("subject"), False), "resource": Field(dict_of("resource"), False),
                      "action": Field(dict_of("action"), False), "context": Field(dict_of("context"), False),
                      "evaluations": Field(lambda v, n: v, False), "options": Field(dict_of("options"), False)})
    await _vouch(st, None)
    items = f.get("evaluations")
    defaults = {k: f[k] for k in ("subject", "resource", "action") if k in f}
    if items is None:
        return JSONResponse({"evaluations": [_authzen_check(st, defaults)]})
    if not isinstance(items, list) or len(items) > MAX_BATCH:
        raise Invalid("invalid_field", f"'evaluations' must be a list of at most {MAX_BATCH} evaluations.")
    results = []
    for item in items:
        if not isinstance(item, dict):
            raise Invalid("invalid_body", "Each evaluation must be a JSON object.")
        results.append(_authzen_check(st, {**defaults, **item}))
    return JSONResponse({"evaluations": results})


routes = [
    Route("/v1/check", check, methods=["POST"]),
    Route("/v1/check/batch", check_batch, methods=["POST"]),
    Route("/v1/users/{email}/products", user_products, methods=["GET"]),
    Route("/v1/products/{code}/users", product_users, methods=["GET"]),
    Route("/access/v1/evaluation", evaluation, methods=["POST"]),
    Route("/access/v1/evaluations", evaluations, methods=["POST"]),
]

_CHECK_IN = obj(["user", "product"], user={"type": "string", "format": "email"},
                product={"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"},
                afnemer={"type": ["string", "null"], "pattern": "^[0-9]{8}$"},
                min_revision={"type": ["integer", "null"], "minimum": 0})
_ANSWER = {"allowed": {"type": "boolean"}, "reason": {"type": "string", "enum": [
    "granted", "unknown_user", "inactive_user", "unknown_product", "no_grant", "no_contract", "no_mandate"]},
    "afnemers": {"type": "array", "items": {"type": "string"}}}
_SUBJECT = obj(["type", "id"], type={"const": "user"}, id={"type": "string"}, properties={"type": "object"})
_RESOURCE = obj(["type", "id"], type={"const": "product"}, id={"type": "string"},
                properties=obj([], afnemer={"type": ["string", "null"]}))
_ACTION = obj(["name"], name={"const": "view"}, properties={"type": "object"})
_EVAL = obj(["subject", "resource", "action"], subject=_SUBJECT, resource=_RESOURCE, action=_ACTION,
            context={"type": "object"})
_DECISION = {"type": "object", "properties": {"decision": {"type": "boolean"}, "context": {"type": "object"}}}
describe("post", "/v1/check", "May user X see product Y (for afnemer Z, or for any)?", auth="key",
         request=_CHECK_IN, response=obj(["allowed", "reason", "afnemers", "revision"], **_ANSWER,
                                          revision={"type": "integer"}))
describe("post", "/v1/check/batch", "Up to 1000 checks at one revision, answered in order.", auth="key",
         request=obj(["checks"], checks={"type": "array", "maxItems": MAX_BATCH, "items": _CHECK_IN},
                     min_revision={"type": ["integer", "null"]}),
         response=obj(["results", "revision"], results={"type": "array", "items": obj([], **_ANSWER)},
                      revision={"type": "integer"}))
describe("get", "/v1/users/{email}/products", "Every product the user may view now, with the afnemer.",
         auth="key", response=obj(["products", "revision"], revision={"type": "integer"}, products={
             "type": "array", "items": obj(["product", "afnemer"], product={"type": "string"},
                                           afnemer={"type": "string"})}))
describe("get", "/v1/products/{code}/users",
         "Every user who may view the product now (paginated, service key). With 'at' (an ISO day: as that day "
         "closed, or an instant), or with a session (operator; beheerder of the afnemer or of an intermediair acting "
         "for it, own users only): who could view it then, and why (grant, contract, mandate), from the audit trail.",
         auth="key", query={"afnemer": {"type": "string"}, "cursor": {"type": "string"},
                            "limit": {"type": "integer", "minimum": 1, "maximum": 1000}, "at": {"type": "string"}},
         response=obj(["users", "cursor", "revision"], revision={"type": "integer"},
                      cursor={"type": ["string", "null"]}, at={"type": "string"}, day={"type": "string"},
                      users={"type": "array", "items": {
                          "type": "object", "required": ["user", "afnemer"], "properties": {
                              "user": {"type": "string"}, "afnemer": {"type": "string"}, "grant": {"type": "object"},
                              "contract": {"type": "object"}, "mandate": {"type": ["object", "null"]}}}}))
describe("post", "/access/v1/evaluation", "OpenID AuthZEN 1.0 access evaluation.", auth="key",
         request=_EVAL, response=_DECISION)
describe("post", "/access/v1/evaluations", "OpenID AuthZEN 1.0 access evaluations (boxcarring).", auth="key",
         request={"type": "object", "properties": {"subject": _SUBJECT, "resource": _RESOURCE, "action": _ACTION,
                                                   "evaluations": {"type": "array", "items": {"type": "object"}}}},
         response={"type": "object", "properties": {"evaluations": {"type": "array", "items": _DECISION}}})
