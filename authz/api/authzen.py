"""The OpenID AuthZEN Authorization API 1.0 (openid/authzen, ``api/authorization-api-1_0.md``) as its certification
scenario tests it: evaluation, evaluations, the three searches and the discovery document, over this instance's
decider. SPEC §4 maps the standard onto this service: subject ``{type: "user", id: e-mail}``, resource ``{type:
"product", id: code, properties: {afnemer?}}``, action ``{name: "view"}``.

Where the standard and the rest of the JSON API differ, the standard holds here (docs/authzen.md):

- a malformed request is a 400 (never 422 or 415): a missing or mistyped member, a body that is not a JSON object,
  a Content-Type other than JSON (:class:`authz.api.http.JsonWrites`), and, as on /v1/check (R13), a malformed value
  of this service's own types (an e-mail, a product code, a KvK number that is not one);
- unknown fields are ignored at every level (:class:`authz.api.shapes.OpenBody`);
- what names nothing this service decides on (an action other than ``view``, a subject or resource of another
  type, an unknown user, product or afnemer) is a denial with a reason in ``context``, and a search finds nothing;
- an error answers the service's ``{"error": {"code", "message"}}``: the standard asks for "an error message
  string" in the body and for every body to be a JSON object, which this shape is.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson
from starlette.requests import Request

from authz import values
from authz.api import shapes
from authz.api.decisions import MAX_BATCH, _vouch, decide  # the one decision step of every decision endpoint
from authz.api.http import BadRequestBody, JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.api.shapes import STRING, Field, OpenBody
from authz.decider import Decision
from authz.domain.access import Reason
from authz.errors import Invalid
from authz.identity import service_client
from authz.service import at_instant
from authz.state import State, state
from authz.trace import Trace

USER, PRODUCT, VIEW = "user", "product", "view"
MAX_PAGE, DEFAULT_PAGE = 1000, 100
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
_STOP = {"deny_on_first_deny": False, "permit_on_first_permit": True}
# Paths by the standard's default names (its table "API Endpoint Overview"), each with its metadata parameter.
ENDPOINTS = {"access_evaluation_endpoint": "/access/v1/evaluation",
             "access_evaluations_endpoint": "/access/v1/evaluations",
             "search_subject_endpoint": "/access/v1/search/subject",
             "search_resource_endpoint": "/access/v1/search/resource",
             "search_action_endpoint": "/access/v1/search/action"}


# -- the request shapes: the standard's entities, open to fields it may add ---------------------------------------

_PROPERTIES = shapes.JSON_OBJECT.optional(nullable=False)
# A resource's properties: this service reads one, the afnemer the product is asked for (absent or null: any).
_RESOURCE_PROPERTIES = OpenBody(afnemer=shapes.KVK.optional()).field().optional(nullable=False)
SUBJECT = OpenBody(type=STRING, id=STRING, properties=_PROPERTIES)
RESOURCE = OpenBody(type=STRING, id=STRING, properties=_RESOURCE_PROPERTIES)
ACTION = OpenBody(name=STRING, properties=_PROPERTIES)
# The entity a search looks for: its id "SHOULD be omitted, and if present, MUST be ignored", so it is not declared.
SUBJECT_SOUGHT = OpenBody(type=STRING, properties=_PROPERTIES)
RESOURCE_SOUGHT = OpenBody(type=STRING, properties=_RESOURCE_PROPERTIES)
EVALUATION = OpenBody(subject=SUBJECT.field(), action=ACTION.field(), resource=RESOURCE.field(), context=_PROPERTIES)


def _semantic(value: Any, name: str) -> str:
    if value not in SEMANTICS:
        raise Invalid("invalid_field", f"'{name}' is one of {', '.join(SEMANTICS)}.")
    return str(value)


_OPTIONS = OpenBody(evaluations_semantic=Field(_semantic, {"enum": list(SEMANTICS), "default": SEMANTICS[0]},
                                               ("invalid_field",)).optional(nullable=False))
# The required identifiers of each entity: the one thing an item's entity takes from the top-level default when it
# lacks it (the certification scenario's c-3-2-7); anything else of the default, its properties, it replaces whole.
IDENTIFIERS = {"subject": ("type", "id"), "action": ("name",), "resource": ("type", "id")}


def _partial(shape: OpenBody) -> Field:
    """A top-level default of an entity: its members typed as in ``shape``, none of them required (an item may
    complete it, as c-3-2-7 does with ``resource: {"type": …}`` and items naming only the id)."""
    return OpenBody(None, **{n: f.optional(nullable=False) if f.required else f for n, f in shape.fields.items()}
                    ).field().optional(nullable=False)


# Each item is read when it is evaluated: one that is not an evaluation is answered in its place (decision false,
# context.error), so the document accepts any item. Top-level subject, action, resource and context are the
# defaults of every item (:func:`_merged`); without items they are the one evaluation asked, complete.
EVALUATIONS = OpenBody(
    subject=_partial(SUBJECT), action=_partial(ACTION), resource=_partial(RESOURCE), context=_PROPERTIES,
    evaluations=shapes.custom(shapes.bounded_list(MAX_BATCH, "evaluations"), {
        "type": "array", "maxItems": MAX_BATCH,
        "description": "evaluations; an item that is not a valid one is answered in place with decision false "
                       "and context.error"}, "invalid_field", "batch_too_large").optional(nullable=False),
    options=_OPTIONS.field().optional(nullable=False),
    schema={"anyOf": [{"required": ["subject", "action", "resource"],
                       "properties": {"subject": SUBJECT.json_schema(), "action": ACTION.json_schema(),
                                      "resource": RESOURCE.json_schema()}},
                      {"required": ["evaluations"], "properties": {"evaluations": {"minItems": 1}}}]})
PAGE = OpenBody(token=STRING.optional(nullable=False), limit=shapes.integer(0).optional(nullable=False),
                properties=_PROPERTIES)
_PAGE = PAGE.field().optional(nullable=False)
SUBJECT_SEARCH = OpenBody(subject=SUBJECT_SOUGHT.field(), action=ACTION.field(), resource=RESOURCE.field(),
                          context=_PROPERTIES, page=_PAGE)
RESOURCE_SEARCH = OpenBody(subject=SUBJECT.field(), action=ACTION.field(), resource=RESOURCE_SOUGHT.field(),
                           context=_PROPERTIES, page=_PAGE)
ACTION_SEARCH = OpenBody(subject=SUBJECT.field(), resource=RESOURCE.field(), context=_PROPERTIES, page=_PAGE)


@contextmanager
def _malformed() -> Iterator[None]:
    """A malformed request is a 400 here (the rest of the API answers 422), with the same code and message."""
    try:
        yield
    except Invalid as exc:
        raise BadRequestBody(exc.code, exc.message) from None


async def _body(request: Request, shape: OpenBody) -> dict[str, Any]:
    service_client(request)
    with _malformed():
        return shape.parse(await read_json(request, state(request).settings.max_body_bytes))


# -- what the entities name --------------------------------------------------------------------------------------

def _user(subject: dict[str, Any]) -> str | None:
    """The account a subject names (its canonical e-mail), None for a subject of another type: it names no one
    here. A malformed e-mail is refused (Invalid), as /v1/check refuses it."""
    return values.email(subject["id"], "subject.id") if subject["type"] == USER else None


def _product(resource: dict[str, Any]) -> str | None:
    return values.code(resource["id"], "resource.id") if resource["type"] == PRODUCT else None


def _afnemer(resource: dict[str, Any]) -> str | None:
    afnemer: str | None = resource.get("properties", {}).get("afnemer")
    return afnemer


@dataclass(frozen=True)
class _Asker:
    """Who asks (the service client) and the trace its request carries in the ``traceparent`` header."""

    client: str
    trace: Trace | None

    @classmethod
    def of(cls, request: Request) -> _Asker:
        return cls(service_client(request), state(request).decisions.traces.of_headers(request.scope["headers"]))


# The longest subject or resource id of another type that the decision log keeps (it names nothing here).
_FOREIGN_ID = 320


def _foreign(value: Any) -> str:
    """An id of another type as the decision log keeps it: cut, and only printable characters (a NUL or another
    control character, which the client may send, becomes U+FFFD: PostgreSQL refuses a NUL in text)."""
    return "".join(c if c.isprintable() else "\ufffd" for c in str(value)[:_FOREIGN_ID])


def _trace(st: State, context: dict[str, Any], asker: _Asker) -> Trace | None:
    """The trace of ``context.traceparent`` (NLGov), else of the header; a malformed one is ignored (and counted)."""
    sent = context.get("traceparent")
    if sent is None:
        return asker.trace
    return st.decisions.traces.read(sent if isinstance(sent, str) else repr(sent)[:64]) or asker.trace


async def _evaluate(st: State, f: dict[str, Any], asker: _Asker) -> dict[str, Any]:
    """One evaluation (an :data:`EVALUATION`, parsed) as an AuthZEN Decision, recorded in the decision log; a
    malformed id, ``context.time`` or NLGov identifier raises Invalid. With ``context.time`` (NLGov) the decision
    is the one as of that instant (:func:`authz.service.at_instant.decide_at`: the audit trail for a past one)."""
    context, properties = f.get("context", {}), f["action"].get("properties", {})
    activity, algorithm = (values.uri(properties[k], f"action.properties.{k}") if properties.get(k) is not None
                           else None for k in ("processing_activity_id", "algorithm_id"))
    trace = _trace(st, context, asker)
    when = values.instant(context["time"], "context.time") if context.get("time") is not None else None
    user, product, afnemer = _user(f["subject"]), _product(f["resource"]), _afnemer(f["resource"])
    if user is None or product is None or f["action"]["name"] != VIEW:
        reason = (Reason.UNKNOWN_SUBJECT_TYPE if user is None else Reason.UNKNOWN_RESOURCE_TYPE if product is None
                  else Reason.UNSUPPORTED_ACTION)
        d = Decision(False, reason, (), st.decider.revision)  # the decider is not asked: it names nothing here
    elif when is None:
        d = decide(st, user, product, afnemer)
    else:
        at = await at_instant.decide_at(st.db, st.decider, when, user, product, afnemer)
        d = Decision(at.allowed, at.reason, at.afnemers, at.revision)
    st.decisions.record(asker.client, user or _foreign(f["subject"]["id"]), product or _foreign(f["resource"]["id"]),
                        afnemer, d, trace, activity, algorithm, when.timestamp() if when is not None else None)
    return {"decision": d.allowed, "context": {"reason": str(d.reason), "afnemers": list(d.afnemers)}}


# -- evaluation and evaluations ----------------------------------------------------------------------------------

async def evaluation(request: Request) -> JSONResponse:
    st = state(request)
    f = await _body(request, EVALUATION)
    await _vouch(st, None)
    with _malformed():
        return JSONResponse(await _evaluate(st, f, _Asker.of(request)))


def _merged(defaults: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """An item over the top-level defaults: each member the item has replaces the default's whole (its properties
    are never merged with the default's), except that an entity lacking a required identifier (:data:`IDENTIFIERS`)
    takes it from the default — the rule of the certification scenario's c-3-2-7. ``context`` replaces whole."""
    out = {**defaults, **item}
    for name, identifiers in IDENTIFIERS.items():
        own, default = item.get(name), defaults.get(name)
        if isinstance(own, dict) and default is not None:
            missing = {k: default[k] for k in identifiers if k not in own and k in default}
            if missing:
                out[name] = {**own, **missing}
    return out


async def _item(st: State, defaults: dict[str, Any], item: Any, asker: _Asker) -> dict[str, Any]:
    """One item of a batch over the defaults (:func:`_merged`); an invalid one is answered in place."""
    try:
        if not isinstance(item, dict):
            raise Invalid("invalid_body", "Each evaluation must be a JSON object.")
        return await _evaluate(st, EVALUATION.parse(_merged(defaults, item)), asker)
    except Invalid as exc:
        return {"decision": False, "context": {"error": {"status": 400, "message": exc.message}}}


async def evaluations(request: Request) -> JSONResponse:
    """Boxcarring: every item in order (``execute_all``), or up to and including the first denial
    (``deny_on_first_deny``; an invalid item is one) or the first permit (``permit_on_first_permit``). Without
    items (absent or empty) it is the single evaluation, answered as one Decision."""
    st = state(request)
    f = await _body(request, EVALUATIONS)
    await _vouch(st, None)
    items, asker = f.get("evaluations"), _Asker.of(request)
    if not items:
        with _malformed():
            return JSONResponse(await _evaluate(st, EVALUATION.parse(f), asker))
    # The decision that ends the batch: the first denial, the first permit, or none (execute_all).
    stop = _STOP.get(f.get("options", {}).get("evaluations_semantic", "execute_all"))
    defaults: dict[str, Any] = {k: f[k] for k in ("subject", "action", "resource", "context") if k in f}
    answers = []
    # Every item is decided at one revision: _evaluate awaits only for an item asked as of a past instant, which
    # the audit trail answers.
    for item in items:
        answer = await _item(st, defaults, item, asker)
        answers.append(answer)
        if answer["decision"] is stop:
            break
    return JSONResponse({"evaluations": answers})


# -- the searches ------------------------------------------------------------------------------------------------

def _digest(f: dict[str, Any]) -> str:
    """What a page token is bound to: the search's entities and context (the standard wants them identical on every
    page, and an error when they are not). The token carries the limit itself (:class:`_Paging`)."""
    asked = {k: f.get(k) for k in ("subject", "action", "resource", "context")}
    return hashlib.sha256(orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _token(digest: str, limit: int, after: str | None) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([digest, limit, after])).decode().rstrip("=")


_NOT_OURS = "The page token is not one this service gave out."
_CHANGED = "The page token belongs to another search: send the request it came with, unchanged but for page.token."


def _read_token(token: str, digest: str) -> tuple[int, str | None]:
    """The limit and the last id of the page before. A page token is no credential: it names only where the next
    page starts and how long it is (at most :data:`MAX_PAGE`), and every page is computed afresh from the request,
    so a forged one can skip results but never add one."""
    try:
        read = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        raise Invalid("invalid_page_token", _NOT_OURS) from None
    if not (isinstance(read, list) and len(read) == 3):
        raise Invalid("invalid_page_token", _NOT_OURS)
    bound, limit, after = read
    if (type(limit) is not int or limit < 1) or not (after is None or isinstance(after, str)):
        raise Invalid("invalid_page_token", _NOT_OURS)
    if bound != digest:
        raise Invalid("invalid_page_token", _CHANGED)
    return limit, after


class _Paging:
    """Where a search's page starts and how long it is.

    ``page.limit`` is, as the standard defines it, the most results the answer may hold: a whole number from 0
    (negative, fractional, not a number or beyond 2⁶³−1: 400), :data:`DEFAULT_PAGE` when absent, and more than
    :data:`MAX_PAGE` gives :data:`MAX_PAGE` (the standard lets a page hold fewer; ``next_token`` says there is
    more). A limit of 0 asks for no results: the answer has none and ``next_token`` ``""``, for a token to go on
    would only lead, with the same limit (which every later page must keep), to the same empty page again.

    ``page.token`` says where to go on, and with which limit: a request that sends it without ``page.limit`` goes
    on with the token's (the certification scenario's c-4-5-2 sends only the token); one with another limit, or with
    other entities or context, is a 400 ``invalid_page_token``."""

    def __init__(self, f: dict[str, Any]) -> None:
        page = f.get("page", {})
        self.digest = _digest(f)
        asked: int | None = page.get("limit")
        self.after: str | None = None
        if page.get("token"):
            limit, self.after = _read_token(page["token"], self.digest)
            if asked is not None and min(asked, MAX_PAGE) != limit:
                raise Invalid("invalid_page_token", _CHANGED)
            asked = limit
        self.limit = min(DEFAULT_PAGE if asked is None else asked, MAX_PAGE)

    def page(self, ids: Iterable[str]) -> tuple[list[str], str]:
        """The page of ``ids`` (sorted, each once, all after :attr:`after`) and the token of the next one."""
        if self.limit == 0:
            return [], ""
        taken = list(islice(ids, self.limit + 1))
        shown = taken[:self.limit]
        more = len(taken) > len(shown)
        return shown, _token(self.digest, self.limit, shown[-1]) if more else ""


def _once(ids: Iterable[str], after: str | None) -> Iterator[str]:
    """Sorted ids after ``after``, without repeats (a user may view a product for several afnemers)."""
    last = after
    for i in ids:
        if last is None or i > last:
            yield i
            last = i


def _subjects(st: State, f: dict[str, Any], after: str | None) -> Iterable[str]:
    """Who may view the product (for the afnemer, or for any): the decider's holders of that product, each
    checked, never a scan of all accounts."""
    product, afnemer = _product(f["resource"]), _afnemer(f["resource"])
    if f["subject"]["type"] != USER or f["action"]["name"] != VIEW or product is None:
        return ()
    # Start past every afnemer of the last user given (KvK numbers sort below U+10FFFF).
    start = (after, "\U0010ffff") if after is not None else None
    return _once((u for u, _ in st.decider.users_of(product, afnemer, start)), after)


def _resources(st: State, f: dict[str, Any], after: str | None) -> Iterable[str]:
    """The products the user may view (for the afnemer, or for any)."""
    user, afnemer = _user(f["subject"]), _afnemer(f["resource"])
    if user is None or f["action"]["name"] != VIEW or f["resource"]["type"] != PRODUCT:
        return ()
    return _once((p for p, a in st.decider.products_of(user) if afnemer is None or a == afnemer), after)


def _actions(st: State, f: dict[str, Any], after: str | None) -> Iterable[str]:
    """What the user may do with the product: ``view``, or nothing."""
    user, product, afnemer = _user(f["subject"]), _product(f["resource"]), _afnemer(f["resource"])
    allowed = user is not None and product is not None and st.decider.check(user, product, afnemer).allowed
    return _once([VIEW] if allowed else [], after)


# What a search asks of the decider, as (user, product, afnemer) questions: the one per result shown (Subject and
# Resource Search: each result is a permit the PEP learns), or the one behind the answer (Action Search).
Found = Callable[[State, dict[str, Any], "str | None"], Iterable[str]]
Asked = Callable[[dict[str, Any], list[str]], Iterable[tuple[str, str, "str | None"]]]


def _asked_subjects(f: dict[str, Any], shown: list[str]) -> Iterable[tuple[str, str, str | None]]:
    product = _product(f["resource"])
    return ((u, product, _afnemer(f["resource"])) for u in shown) if product is not None else ()


def _asked_resources(f: dict[str, Any], shown: list[str]) -> Iterable[tuple[str, str, str | None]]:
    user = _user(f["subject"])
    return ((user, p, _afnemer(f["resource"])) for p in shown) if user is not None else ()


def _asked_action(f: dict[str, Any], shown: list[str]) -> Iterable[tuple[str, str, str | None]]:
    # The decision behind the answer, a permit or not, as an evaluation's (also when this page shows nothing).
    user, product = _user(f["subject"]), _product(f["resource"])
    return [(user, product, _afnemer(f["resource"]))] if user is not None and product is not None else []


async def _search(request: Request, shape: OpenBody, find: Found, asked: Asked,
                  entity: Callable[[str], dict[str, str]]) -> JSONResponse:
    """One page of what ``find`` finds for the request (sorted ids after the page token's), each as ``entity``;
    the decisions it answers (``asked``) are recorded in the decision log, as the decider gives them now."""
    st = state(request)
    f = await _body(request, shape)
    await _vouch(st, None)
    with _malformed():
        paging = _Paging(f)
        shown, next_token = paging.page(find(st, f, paging.after))
        questions = list(asked(f, shown))
    if questions:
        asker = _Asker.of(request)
        trace, record = _trace(st, f.get("context", {}), asker), st.decisions.record
        for user, product, afnemer in questions:
            record(asker.client, user, product, afnemer, decide(st, user, product, afnemer), trace)
    return JSONResponse({"page": {"next_token": next_token, "count": len(shown)},
                         "results": [entity(i) for i in shown]})


async def search_subject(request: Request) -> JSONResponse:
    return await _search(request, SUBJECT_SEARCH, _subjects, _asked_subjects, lambda u: {"type": USER, "id": u})


async def search_resource(request: Request) -> JSONResponse:
    return await _search(request, RESOURCE_SEARCH, _resources, _asked_resources,
                         lambda p: {"type": PRODUCT, "id": p})


async def search_action(request: Request) -> JSONResponse:
    return await _search(request, ACTION_SEARCH, _actions, _asked_action, lambda a: {"name": a})


# -- discovery ---------------------------------------------------------------------------------------------------

async def configuration(request: Request) -> JSONResponse:
    """The PDP metadata: ``policy_decision_point`` is ``AUTHZ_BASE_URL``, the endpoints hang below it. Public, as
    the standard has it: a PEP reads it before it calls anything."""
    base = state(request).settings.base_url
    return JSONResponse({"policy_decision_point": base, **{name: base + path for name, path in ENDPOINTS.items()}})


# -- the routes --------------------------------------------------------------------------------------------------

REASONS = [r.value for r in Reason]  # the decider's and this edge's own
_DECISION = obj(["decision"], decision={"type": "boolean"}, context=obj(
    [], reason={"type": "string", "enum": REASONS}, afnemers={"type": "array", "items": {"type": "string"}},
    error=obj(["status", "message"], status={"type": "integer", "enum": [400]}, message={"type": "string"})))
_ID_ERRORS = ["invalid_email", "invalid_product_code"]
_EVALUATION_ERRORS = [*_ID_ERRORS, "invalid_time", "invalid_uri"]  # NLGov: context.time, action.properties
_PAGE_ANSWER = obj(["next_token", "count"], next_token={"type": "string"}, count={"type": "integer", "minimum": 0})


def _found(**entity: Any) -> dict[str, Any]:
    return obj(["page", "results"], page=_PAGE_ANSWER,
               results={"type": "array", "items": obj(list(entity), **entity)})


_TAG = "authzen"
_KIND: dict[str, Any] = {"tag": _TAG, "auth": "key", "invalid_status": 400}
routes = [
    Operation("POST", ENDPOINTS["access_evaluation_endpoint"], evaluation, "evaluation",
              "OpenID AuthZEN 1.0 Access Evaluation: may the subject (a user) view the resource (a product, for "
              "properties.afnemer or any)? NLGov: as of context.time (RFC 3339; a past instant from the audit trail); "
              "context.traceparent and action.properties processing_activity_id and algorithm_id (URIs) go into the "
              "decision log.", body=EVALUATION, errors={400: _EVALUATION_ERRORS, 503: ["stale"]},
              response=_DECISION, **_KIND),
    Operation("POST", ENDPOINTS["access_evaluations_endpoint"], evaluations, "evaluations",
              "OpenID AuthZEN 1.0 Access Evaluations (boxcarring), with options.evaluations_semantic; without "
              "evaluations, one Decision. NLGov members as for evaluation, per item.", body=EVALUATIONS,
              # missing_field: without items, the top level is the one evaluation and must be complete.
              errors={400: [*_EVALUATION_ERRORS, "missing_field"], 503: ["stale"]},
              response=obj([], decision={"type": "boolean"}, context=_DECISION["properties"]["context"],
                           evaluations={"type": "array", "items": _DECISION}), **_KIND),
    Operation("POST", ENDPOINTS["search_subject_endpoint"], search_subject, "searchSubject",
              "OpenID AuthZEN 1.0 Subject Search: the users who may view the product now.", body=SUBJECT_SEARCH,
              errors={400: ["invalid_product_code", "invalid_page_token"], 503: ["stale"]},
              response=_found(type={"type": "string", "enum": [USER]}, id={"type": "string"}), **_KIND),
    Operation("POST", ENDPOINTS["search_resource_endpoint"], search_resource, "searchResource",
              "OpenID AuthZEN 1.0 Resource Search: the products the user may view now.", body=RESOURCE_SEARCH,
              errors={400: ["invalid_email", "invalid_page_token"], 503: ["stale"]},
              response=_found(type={"type": "string", "enum": [PRODUCT]}, id={"type": "string"}), **_KIND),
    Operation("POST", ENDPOINTS["search_action_endpoint"], search_action, "searchAction",
              "OpenID AuthZEN 1.0 Action Search: 'view' when the user may view the product now, else nothing.",
              body=ACTION_SEARCH, errors={400: [*_ID_ERRORS, "invalid_page_token"], 503: ["stale"]},
              response=_found(name={"type": "string", "enum": [VIEW]}), **_KIND),
    Operation("GET", "/.well-known/authzen-configuration", configuration, "authzenConfiguration",
              "OpenID AuthZEN 1.0 Policy Decision Point metadata: the PDP's identifier and its five endpoints.",
              tag=_TAG, sql=False, response=obj(["policy_decision_point", *ENDPOINTS],
                                                policy_decision_point={"type": "string", "format": "uri"},
                                                **{name: {"type": "string", "format": "uri"} for name in ENDPOINTS})),
]
