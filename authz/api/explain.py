"""POST /v1/explain: a /v1/check answer with the chain behind it (grant, contract, mandate, Casbin lines, sentences).

Unlike /v1/check this reads SQL, and it asks Casbin itself (:class:`authz.policy.Reference`) over the lines in
``casbin_rule``: an explanation is a rare, human question, worth a few milliseconds. The decider's answer and
Casbin's are compared at the same revision; a disagreement is logged as an error and shown in the answer.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz import explain as explaining
from authz.api.decisions import CHECK
from authz.api.http import JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.errors import Unavailable
from authz.identity import service_client
from authz.state import state

log = logging.getLogger(__name__)

# SQL may move on while we read; a few attempts find a revision that the facts, the lines and the decider share.
_ATTEMPTS = 3


async def explain(request: Request) -> JSONResponse:
    client = service_client(request)
    st = state(request)
    f = CHECK.parse(await read_json(request, st.settings.max_body_bytes))  # the body of /v1/check
    user, product, afnemer = f["user"], f["product"], f.get("afnemer")
    wanted = f.get("min_revision") or 0
    for _ in range(_ATTEMPTS):
        day = date.fromordinal(st.clock.today_ordinal())
        gathered = await run_in_threadpool(explaining.gather, st.db, user, product, afnemer, day)
        target = max(gathered.evidence.revision, wanted)
        if st.decider.revision < target and not await st.sync.wait_for(target, st.settings.min_revision_wait):
            raise Unavailable("stale", f"This instance could not reach revision {target} in time "
                                       f"(it is at {st.decider.revision}); try again.")
        if gathered.consistent and st.decider.revision == gathered.evidence.revision:
            break
    # No await from here on: the decision is taken at the revision just compared.
    decision = st.decider.check(user, product, afnemer)
    st.decisions.record(client, user, product, afnemer, decision,
                        st.decisions.traces.of_headers(request.scope["headers"]))
    body = explaining.answer(decision, gathered, day)
    same_revision = gathered.consistent and decision.revision == gathered.evidence.revision
    if same_revision and not body["reference"]["agrees"]:
        log.error("the decider and Casbin disagree at revision %s on %s viewing %s for %s: decider %s/%s %s, "
                  "Casbin %s/%s %s", decision.revision, user, product, afnemer or "any afnemer",
                  decision.allowed, decision.reason.value, list(decision.afnemers), gathered.verdict.allowed,
                  gathered.verdict.reason, list(gathered.verdict.afnemers))
    return JSONResponse(body)


_WINDOW: dict[str, Any] = {"valid_from": {"type": "string", "format": "date"},
                           "valid_until": {"type": ["string", "null"], "format": "date"},
                           "valid_today": {"type": "boolean"}}
_LINK = obj(
    ["afnemer", "outcome", "grant", "contract", "mandate_required", "mandate", "policy_lines", "enforce_ex"],
    afnemer=obj(["kvk", "name"], kvk={"type": "string"}, name={"type": ["string", "null"]}),
    outcome={"type": ["string", "null"], "enum": ["granted", "no_grant", "no_contract", "no_mandate", None]},
    grant={"type": ["object", "null"], "properties": {"granted_by": {"type": "string"},
                                                      "granted_at": {"type": "string", "format": "date-time"}}},
    contract={"type": ["object", "null"], "properties": _WINDOW},
    mandate_required={"type": "boolean"},
    mandate={"type": ["object", "null"], "properties": {
        "intermediair": {"type": "string"}, "products": {"type": ["array", "null"], "items": {"type": "string"}},
        "covers_product": {"type": "boolean"}, **_WINDOW}},
    policy_lines={"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    enforce_ex={"type": ["object", "null"], "properties": {
        "allowed": {"type": "boolean"}, "matched": {"type": ["array", "null"], "items": {"type": "string"}}}},
)
_REASONS = ["granted", "unknown_user", "inactive_user", "unknown_product", "unknown_afnemer", "no_grant", "no_contract",
            "no_mandate"]
routes = [Operation(
    "POST", "/v1/explain", explain, "explain",
    "The decision of /v1/check with the chain behind it: grant, contract, mandate, the Casbin lines that matched "
    "(enforce_ex), and one sentence in Dutch and one in English.",
    tag="decisions", auth="key", body=CHECK, errors={503: ["stale"]},
    response=obj(
        ["allowed", "reason", "afnemers", "revision", "day", "user", "product", "chain", "reference",
         "explanation"],
        allowed={"type": "boolean"}, reason={"type": "string", "enum": _REASONS},
        afnemers={"type": "array", "items": {"type": "string"}}, revision={"type": "integer"},
        day={"type": "string", "format": "date"},
        user={"type": ["object", "null"], "properties": {"email": {"type": "string"},
                                                         "name": {"type": "string"},
                                                         "org": {"type": ["string", "null"]},
                                                         "status": {"type": "string"}}},
        product={"type": ["object", "null"], "properties": {"code": {"type": "string"}, "name": {"type": "string"}}},
        chain={"type": "array", "items": _LINK},
        reference=obj(["allowed", "reason", "afnemers", "revision", "agrees"], allowed={"type": "boolean"},
                      reason={"type": "string", "enum": _REASONS},
                      afnemers={"type": "array", "items": {"type": "string"}}, revision={"type": "integer"},
                      agrees={"type": "boolean"}),
        explanation=obj(["nl", "en"], nl={"type": "string"}, en={"type": "string"}),
    ),
)]
