"""The Logboek (R12): the audit trail as Dutch sentences, filtered by period, user and product, a page at a time,
and the same records as a CSV file. A beheerder reads only the records made on behalf of their own organisation
(taken from the session, never from the URL); the operator reads every organisation's.

The sentences are :func:`authz.service.audit.describe`'s, so the page, the CSV and a user's history agree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from admin_ui import guard, texts
from admin_ui.web import render, route
from authz import values
from authz.clock import AMSTERDAM
from authz.errors import Invalid
from authz.service import audit, catalogue
from authz.service.audit import Described, Period
from authz.state import state

PAGE = 50
# Excel in a Dutch locale splits a CSV file on ';' (',' is its decimal separator) and reads UTF-8 only after a BOM.
CSV_SEPARATOR = ";"
CSV_COLUMNS = ("moment", "wie", "namens", "handeling", "code")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    user: str
    product: str
    since: date | None
    until: date | None
    errors: list[str]

    def period(self) -> Period:
        return Period(self.since, self.until)

    def query(self, **more: Any) -> str:
        raw = {"gebruiker": self.user, "product": self.product,
               "van": self.since.isoformat() if self.since else "", "tot": self.until.isoformat() if self.until else ""}
        return urlencode({k: v for k, v in {**raw, **more}.items() if v})


def _day(request: Request, name: str, errors: list[str]) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return values.iso_day(raw, name)
    except Invalid:
        errors.append(texts.logbook_bad_day(name))
        return None


def filters(request: Request) -> Filters:
    """The filters of the query string; a day that is no date is left out, and said so."""
    errors: list[str] = []
    since, until = _day(request, "van", errors), _day(request, "tot", errors)
    if since and until and until < since:
        errors.append(texts.LOGBOOK_PERIOD_REVERSED)
        since, until = until, since
    return Filters(values.search_text(request.query_params.get("gebruiker", ""), values.MAX_EMAIL),
                   values.search_text(request.query_params.get("product", ""), 63), since, until, errors)


async def _page(request: Request, org: str | None, base: str, frame: dict[str, object]) -> Response:
    st = state(request)
    f = filters(request)
    before_id = values.whole_number(request.query_params.get("voor"))

    def read() -> tuple[Any, list[Any]]:
        found = audit.logbook(st.db, org, user=f.user or None, product=f.product or None, period=f.period(),
                              before_id=before_id, limit=PAGE)
        return found, catalogue.products(st.db)

    found, products = await run_in_threadpool(read)
    older = f"{base}?{f.query(voor=found.cursor)}" if found.cursor is not None else None
    newest = f"{base}?{f.query()}" if before_id is not None else None
    return render(request, "audit.html", {**frame, "entries": found.items, "filters": f, "base": base,
                                          "products": products, "older": older, "newest": newest,
                                          "export": f"{base}/export?{f.query()}", "operator": org is None,
                                          "error": " ".join(f.errors) or None})


def cell(value: str) -> str:
    """A CSV cell that a spreadsheet never runs as a formula (OWASP: CSV injection)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_lines(rows: Iterator[Described]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_SEPARATOR, lineterminator="\r\n")

    def line(fields: list[str]) -> str:
        writer.writerow([cell(x) for x in fields])
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    yield "\ufeff" + line(list(CSV_COLUMNS))
    for d in rows:
        # A moment Excel reads as a date and time, in the Dutch time of the page.
        yield line([d.at.astimezone(AMSTERDAM).strftime("%Y-%m-%d %H:%M:%S"), d.who, d.namens, d.sentence, d.action])


def _export(request: Request, org: str | None, name: str) -> Response:
    st = state(request)
    f = filters(request)
    rows = audit.export(st.db, org, user=f.user or None, product=f.product or None, period=f.period())
    return StreamingResponse(csv_lines(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def beheerder_page(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "audit.read")
    return await _page(request, org, "/audit", guard.frame(actor, "audit", "Logboek"))


async def beheerder_export(request: Request) -> Response:
    _, org = await guard.beheerder(request, "audit.read")
    return _export(request, org, f"logboek-{org}.csv")


async def operator_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.audit")
    return await _page(request, None, "/operator/logboek", guard.frame(actor, "op-logboek", "Logboek"))


async def operator_export(request: Request) -> Response:
    await guard.operator(request, "operator.audit")
    return _export(request, None, "logboek.csv")


routes = [
    route("/audit", beheerder_page),
    route("/audit/export", beheerder_export),
    route("/operator/logboek", operator_page),
    route("/operator/logboek/export", operator_export),
]
