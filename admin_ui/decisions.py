"""The operator's page of the decision log: every decision answered to the services, newest first, filtered by
user, product, afnemer and period, a page at a time; the same search as ``GET /v1/operator/decisions``
(:mod:`authz.service.decisionlog`). A filter that cannot be read is said so, and nothing is searched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.web import message, render, route
from authz import values
from authz.domain import sentences
from authz.errors import Invalid
from authz.service import decisionlog
from authz.service.decisionlog import Filters
from authz.state import state

PAGE = 50
BASE = "/operator/beslissingen"
_FIELDS = ("gebruiker", "product", "afnemer", "van", "tot")


@dataclass(frozen=True)
class Row:
    moment: str
    client: str
    user: str
    product: str
    afnemer: str
    allowed: bool
    verdict: str
    reason: str
    revision: int
    trace: str
    activity: str
    as_of: str  # the moment asked for (AuthZEN context.time), or ""


def _filters(raw: dict[str, str]) -> tuple[Filters, list[str]]:
    """The filters typed in, by the API's own parsers; each one that cannot be read is named in Dutch."""
    errors: list[str] = []

    def read(name: str, parse: Any) -> Any:
        if not raw[name]:
            return None
        try:
            return parse(raw[name])
        except Invalid as exc:
            errors.append(texts.decisions_bad_filter(name, message(exc)))
            return None

    f = Filters(user=read("gebruiker", lambda v: values.email(v, "gebruiker")),
                product=read("product", lambda v: values.code(v, "product")),
                afnemer=read("afnemer", lambda v: values.kvk(v, "afnemer")),
                since=read("van", lambda v: decisionlog.bound(v, "van", False)),
                until=read("tot", lambda v: decisionlog.bound(v, "tot", True)))
    if f.since is not None and f.until is not None and f.until <= f.since:
        errors.append(texts.DECISIONS_PERIOD_REVERSED)
    return f, errors


def _row(d: Any) -> Row:
    return Row(sentences.moment(d.at), d.client, d.user, d.product, d.afnemer or texts.DECISIONS_ANY_AFNEMER,
               d.allowed, texts.DECISIONS_VERDICT[d.allowed], texts.DECISION_REASONS.get(d.reason, d.reason),
               d.revision, d.trace_id or "", d.processing_activity_id or "",
               sentences.moment(d.as_of) if d.as_of is not None else "")


async def page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.decisions")
    raw = {name: values.search_text(request.query_params.get(name, ""), values.MAX_EMAIL) for name in _FIELDS}
    f, errors = _filters(raw)
    cursor: tuple[datetime, int] | None = None
    if request.query_params.get("voor"):
        try:
            cursor = decisionlog.cursor_decode(request.query_params["voor"])
        except Invalid:
            errors.append(texts.DECISIONS_BAD_PAGE)
    rows: list[Row] = []
    older = newest = ""
    if not errors:
        found = await run_in_threadpool(decisionlog.search, state(request).db, f, PAGE, cursor)
        rows = [_row(d) for d in found.items]
        query = {k: v for k, v in raw.items() if v}
        if found.cursor is not None:
            older = f"{BASE}?{urlencode({**query, 'voor': found.cursor})}"
        if cursor is not None:
            newest = f"{BASE}?{urlencode(query)}" if query else BASE
    return render(request, "op_decisions.html", {
        **guard.frame(actor, "op-beslissingen", texts.DECISIONS_TITLE), "rows": rows, "raw": raw,
        "older": older, "newest": newest, "intro": texts.DECISIONS_INTRO,
        "none": "" if errors else texts.DECISIONS_NONE, "error": " ".join(errors) or None})


routes = [route(BASE, page)]
