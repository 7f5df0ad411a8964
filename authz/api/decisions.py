"""The decision API for service clients: /v1/check and friends (the AuthZEN edge: :mod:`authz.api.authzen`).

Answered from this instance's decider: no SQL on these paths except /v1/explain.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from authz.api import shapes
from authz.api.http import JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.api.product_users import PRODUCT_USERS, PRODUCT_USERS_AT, cursor_encode
from authz.api.review import product_users_at
from authz.api.shapes import Body
from authz.decider import Decision
from authz.errors import Invalid, Unavailable
from authz.identity import SESSION_COOKIE, service_client
from authz.state import State, state
from authz.values import code, email

MAX_BATCH = 1000
CHECK = Body(user=shapes.EMAIL, product=shapes.CODE, afnemer=shapes.KVK.optional(),
             min_revision=shapes.integer(0).optional())


def decide(st: State, user: str, product: str, afnemer: str | None) -> Decision:
    decision = st.decider.check(user, product, afnemer)  # an unknown afnemer is a denial (R13), not an error
    st.metrics.checks[decision.reason] += 1
    return decision


CheckValues = tuple[str, str, str | None, int | None]
_USER, _PRODUCT, _AFNEMER, _MIN_REVISION = (
    CHECK.fields["user"].parse, shapes.memoized(CHECK.fields["product"].parse),
    shapes.memoized(CHECK.fields["afnemer"].parse), CHECK.fields["min_revision"].parse)


def check_values(body: Any) -> CheckValues:
    """(user, product, afnemer, min_revision) of a check body, by :data:`CHECK`. The fast path calls the declared
    parsers directly (no generic loop; the few product codes and KvK numbers remembered once accepted); when any
    of them refuses, :meth:`Shape.parse` names what is wrong, as for every other body."""
    if type(body) is dict and CHECK.names.issuperset(body):
        try:
            user, product = _USER(body["user"], "user"), _PRODUCT(body["product"], "product")
            afnemer, min_revision = body.get("afnemer"), body.get("min_revision")
            if afnemer is not None:
                afnemer = _AFNEMER(afnemer, "afnemer")
            if min_revision is not None:
                min_revision = _MIN_REVISION(min_revision, "min_revision")
            return user, product, afnemer, min_revision
        except (KeyError, Invalid):
            pass  # the validator below names the first thing wrong, in the declared order
    return check_values_checked(body)


# The list of a batch; each check in it is read by :func:`check_values` (its ``min_revision`` honoured).
_checks = shapes.bounded_list(MAX_BATCH, "checks")


BATCH = Body(checks=shapes.custom(_checks, {"type": "array", "maxItems": MAX_BATCH, "items": CHECK.json_schema()},
                                  "invalid_field", "batch_too_large", "invalid_body", *CHECK.errors()),
             min_revision=CHECK.fields["min_revision"])


def check_values_checked(body: Any) -> CheckValues:
    """:func:`check_values` by the general validator only (the reference the fast path is tested against)."""
    if not isinstance(body, dict):
        raise Invalid("invalid_body", "Each check must be a JSON object.")
    f = CHECK.parse(body)
    return f["user"], f["product"], f.get("afnemer"), f.get("min_revision")


def _answer(d: Decision) -> dict[str, Any]:
    # orjson writes the StrEnum reason as its value and the tuple as an array.
    return {"allowed": d.allowed, "reason": d.reason, "afnemers": d.afnemers}


async def _vouch(st: State, wanted: int | None) -> None:
    """Never answer from data this instance cannot vouch for (SPEC §5), and honour ``min_revision`` (``wanted``)."""
    await st.sync.ensure_current()
    if wanted is None:
        return
    if st.decider.revision < wanted and not await st.sync.wait_for(wanted, st.settings.min_revision_wait):
        raise Unavailable("stale", f"This instance could not reach revision {wanted} in time "
                                   f"(it is at {st.decider.revision}); try again.")


async def check(request: Request) -> JSONResponse:
    client = service_client(request)
    st = state(request)
    user, product, afnemer, min_revision = check_values(await read_json(request, st.settings.max_body_bytes))
    if min_revision is not None or not st.sync.current():
        await _vouch(st, min_revision)
    d = decide(st, user, product, afnemer)
    st.decisions.record(client, user, product, afnemer, d, st.decisions.traces.of_headers(request.scope["headers"]))
    return JSONResponse({"allowed": d.allowed, "reason": d.reason, "afnemers": d.afnemers, "revision": d.revision})


async def check_batch(request: Request) -> JSONResponse:
    client = service_client(request)
    st = state(request)
    f = BATCH.parse(await read_json(request, st.settings.max_body_bytes))
    checks = [check_values(c) for c in f["checks"]]  # every check read before any wait: a bad one refuses all
    # A check's own min_revision is honoured as a single check's is: the batch waits for the largest one asked.
    wanted = [m for m in (f.get("min_revision"), *(c[3] for c in checks)) if m is not None]
    await _vouch(st, max(wanted) if wanted else None)
    revision = st.decider.revision
    decided = [(c, decide(st, *c[:3])) for c in checks]  # one revision
    trace, record = st.decisions.traces.of_headers(request.scope["headers"]), st.decisions.record
    for (user, product, afnemer, _), d in decided:
        record(client, user, product, afnemer, d, trace)
    return JSONResponse({"results": [_answer(d) for _, d in decided], "revision": revision})


async def user_products(request: Request) -> JSONResponse:
    service_client(request)
    st = state(request)
    user = email(request.path_params["email"], "email")
    await _vouch(st, None)
    rows = st.decider.products_of(user)
    return JSONResponse({"products": [{"product": p, "afnemer": a} for p, a in rows],
                         "revision": st.decider.revision})


async def product_users(request: Request) -> JSONResponse:
    if "at" in request.query_params or ("authorization" not in request.headers and SESSION_COOKIE in request.cookies):
        # A point-in-time question, or a reviewer with a session: answered from the audit trail, not from memory.
        return await product_users_at(request)
    service_client(request)
    st = state(request)
    product = code(request.path_params["code"], "code")
    q = PRODUCT_USERS.parse(request.query_params)
    afnemer = q.get("afnemer")  # a well-formed KvK number naming no organisation: nobody (R13), not an error
    limit, after = q["limit"], q.get("cursor")
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


_ANSWER = {"allowed": {"type": "boolean"}, "reason": {"type": "string", "enum": [
    "granted", "unknown_user", "inactive_user", "unknown_product", "unknown_afnemer", "no_grant", "no_contract",
    "no_mandate"]},
    "afnemers": {"type": "array", "items": {"type": "string"}}}
_DECIDED = {503: ["stale"]}
_TAG = "decisions"

routes = [
    Operation("POST", "/v1/check", check, "check", "May user X see product Y (for afnemer Z, or for any)?",
              tag=_TAG, auth="key", body=CHECK, errors=_DECIDED,
              response=obj(["allowed", "reason", "afnemers", "revision"], **_ANSWER, revision={"type": "integer"})),
    Operation("POST", "/v1/check/batch", check_batch, "checkBatch",
              "Up to 1000 checks at one revision, answered in order.", tag=_TAG, auth="key", body=BATCH,
              errors=_DECIDED, response=obj(["results", "revision"], results={"type": "array",
                                                                              "items": obj([], **_ANSWER)},
                                            revision={"type": "integer"})),
    Operation("GET", "/v1/users/{email}/products", user_products, "listUserProducts",
              "Every product the user may view now, with the afnemer.", tag=_TAG, auth="key",
              errors={422: ["invalid_email"], 503: ["stale"]},
              response=obj(["products", "revision"], revision={"type": "integer"}, products={
                  "type": "array", "items": obj(["product", "afnemer"], product={"type": "string"},
                                                afnemer={"type": "string"})})),
    Operation("GET", "/v1/products/{code}/users", product_users, "listProductUsers",
              "Every user who may view the product now (paginated, service key). With 'at' (an ISO day: as that "
              "day closed, or an instant), or with a session (operator; beheerder of the afnemer or of an "
              "intermediair acting for it, own users only): who could view it then, and why (grant, contract, "
              "mandate), from the audit trail.",
              tag=_TAG, auth="key", query=PRODUCT_USERS_AT,
              errors={401: ["not_logged_in"], 403: ["forbidden"],
                      422: ["invalid_product_code", "afnemer_required"], 503: ["stale"]},
              response=obj(["users", "cursor", "revision"], revision={"type": "integer"},
                           cursor={"type": ["string", "null"]}, at={"type": "string"}, day={"type": "string"},
                           users={"type": "array", "items": {
                               "type": "object", "required": ["user", "afnemer"], "properties": {
                                   "user": {"type": "string"}, "afnemer": {"type": "string"},
                                   "grant": {"type": "object"}, "contract": {"type": "object"},
                                   "mandate": {"type": ["object", "null"]}}}})),
]
