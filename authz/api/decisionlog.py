"""The operator's search of the decision log: ``GET /v1/operator/decisions`` (SPEC §4, §5).

``authz/api/decisionlog.py → authz/service/decisionlog.py → authz/store/decisionlog.py → SQL``, as the portal's
page (:mod:`admin_ui.decisions`). What is searched was written by each instance's writer (:mod:`authz.decisionlog`).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz import values
from authz.api import shapes
from authz.api.http import JSONResponse
from authz.api.openapi import Operation, obj
from authz.api.shapes import Query
from authz.identity import require_operator
from authz.service import decisionlog
from authz.service.decisionlog import MAX_LIMIT, REASONS, Filters
from authz.state import state


def _bound(end: bool) -> shapes.Field:
    return shapes.custom(lambda value, name: decisionlog.bound(value, name, end),
                         {"type": "string", "description": "an ISO day (Europe/Amsterdam) or an instant with its "
                                                           "time zone"}, "invalid_date").optional(nullable=False)


DECISIONS = Query(
    # The address by authz.values.email (its canonical form); no JSON Schema "format": the filter reads whatever
    # that parser reads, as the decision log holds what the services asked.
    user=shapes.Field(values.email, {"type": "string", "maxLength": values.MAX_EMAIL,
                                     "description": "the user's e-mail address (exact, in its canonical form)"},
                      ("invalid_email",), required=False),
    product=shapes.CODE.optional(nullable=False),
    afnemer=shapes.KVK_PARAM,
    since=_bound(False).with_schema(description="from this instant, or from the start of this day (included)"),
    until=_bound(True).with_schema(description="before this instant, or through the end of this day"),
    cursor=shapes.cursor(decisionlog.cursor_decode), limit=shapes.limit(100, MAX_LIMIT))


async def listing(request: Request) -> JSONResponse:
    await require_operator(request, "operator.decisions")
    q = DECISIONS.parse(request.query_params)
    filters = Filters(q.get("user"), q.get("product"), q.get("afnemer"), q.get("since"), q.get("until"))
    found = await run_in_threadpool(decisionlog.search, state(request).db, filters, q["limit"], q.get("cursor"))
    return JSONResponse({"decisions": [decisionlog.answer(d) for d in found.items], "cursor": found.cursor})


_S: dict[str, Any] = {"type": "string"}
_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_DECISION = obj(
    ["at", "client", "user", "product", "afnemer", "decision", "reason", "revision", "trace_id", "span_id",
     "processing_activity_id", "algorithm_id", "as_of"],
    at={"type": "string", "format": "date-time"}, client=_S, user=_S, product=_S, afnemer=_OR_NULL,
    decision={"type": "boolean"}, reason={"type": "string", "enum": [*REASONS, "other"]},
    revision={"type": "integer"}, trace_id={"type": ["string", "null"], "pattern": "^[0-9a-f]{32}$"},
    span_id={"type": ["string", "null"], "pattern": "^[0-9a-f]{16}$"}, processing_activity_id=_OR_NULL,
    algorithm_id=_OR_NULL,
    as_of={"type": ["string", "null"], "format": "date-time",
           "description": "the instant the decision was asked for (AuthZEN context.time); null: when it was answered"})
routes = [
    Operation("GET", "/v1/operator/decisions", listing, "listDecisions",
              "The decision log: every decision answered (check, batch, explain, AuthZEN), newest first, filtered "
              "by user, product, afnemer and period; a page at a time (cursor null on the last page).",
              tag="operator", auth="session", query=DECISIONS, errors={422: ["invalid_period"]},
              response=obj(["decisions", "cursor"], decisions={"type": "array", "items": _DECISION},
                           cursor=_OR_NULL)),
]
