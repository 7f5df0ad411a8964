"""The operator's view of the outbox: e-mails that exhausted their retries (``dead``) and retrying them.

``authz/api/outbox.py → authz/store/outbox.py → SQL``; the sender (:mod:`authz.mail`) picks a retried e-mail up at
once (kicked) or at its next round.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz.api import shapes
from authz.api.accounts import committed, optional_body, path_id
from authz.api.auth import require_operator, state
from authz.api.http import JSONResponse
from authz.api.openapi import Operation, obj
from authz.api.shapes import Query
from authz.store import outbox

STATUSES = ("dead", "pending", "sent")
MAX_LIMIT = 500
MAILS = Query(status=shapes.one_of(STATUSES, "dead", "invalid_status"), cursor=shapes.ID_CURSOR,
              limit=shapes.limit(100, MAX_LIMIT))


async def listing(request: Request) -> JSONResponse:
    await require_operator(request, "operator.mail")
    q = MAILS.parse(request.query_params)
    status, size, after = q["status"], q["limit"], q.get("cursor")
    st = state(request)
    rows = await run_in_threadpool(outbox.listing, st.db, status, size + 1, after)
    more = len(rows) > size
    rows = rows[:size]
    return JSONResponse({"mails": rows, "cursor": str(rows[-1]["id"]) if more else None})


async def retry(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mail")
    st = state(request)
    row_id = path_id(request, "mail", "No such e-mail.")
    await optional_body(request, shapes.NO_FIELDS)

    def run() -> None:
        with st.db.tx(actor.email) as t:
            outbox.retry(t, row_id)

    await run_in_threadpool(run)
    await committed(st)
    return JSONResponse({"id": row_id, "status": "pending"})


_S = {"type": "string"}
_MAIL = obj(["id", "to", "subject", "status", "attempts", "created_at", "last_error", "next_attempt_at"],
            id={"type": "integer"}, to=_S, subject=_S, status={"enum": list(STATUSES)}, attempts={"type": "integer"},
            created_at=_S, last_error={"type": ["string", "null"]}, next_attempt_at=_S)
routes = [
    Operation("GET", "/v1/operator/mail", listing, "listMail", "E-mails in the outbox by status (default 'dead': "
              "given up after their retries), newest first, without their bodies.", tag="mail", auth="session",
              query=MAILS, response=obj(["mails", "cursor"], mails={"type": "array", "items": _MAIL},
                                        cursor={"type": ["string", "null"]})),
    Operation("POST", "/v1/operator/mail/{id}/retry", retry, "retryMail", "Try a dead e-mail again now, with a "
              "fresh count of attempts (409 when it is not dead).", tag="mail", auth="session",
              body=shapes.NO_FIELDS, errors={404: ["unknown_mail"], 409: ["mail_not_dead"]},
              response=obj(["id", "status"], id={"type": "integer"}, status={"const": "pending"})),
]
