"""The operator's view of the outbox: e-mails that exhausted their retries (``dead``) and retrying them.

``authz/api/outbox.py → authz/service/mail.py → authz/store/outbox.py → SQL``, as the portal would.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz.api import shapes
from authz.api.accounts import optional_body, path_id
from authz.api.http import JSONResponse
from authz.api.openapi import Operation, obj
from authz.api.shapes import Query
from authz.identity import require_operator
from authz.service import mail
from authz.service.commit import after_commit
from authz.service.mail import STATUSES
from authz.state import state

MAX_LIMIT = 500
MAILS = Query(status=shapes.one_of(STATUSES, "dead", "invalid_status"), cursor=shapes.ID_CURSOR,
              limit=shapes.limit(100, MAX_LIMIT))


async def listing(request: Request) -> JSONResponse:
    await require_operator(request, "operator.mail")
    q = MAILS.parse(request.query_params)
    found = await run_in_threadpool(mail.listing, state(request).db, q["status"], q["limit"], q.get("cursor"))
    return JSONResponse({"mails": found.items, "cursor": found.cursor})


async def retry(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mail")
    st = state(request)
    row_id = path_id(request, "mail", "No such e-mail.")
    await optional_body(request, shapes.NO_FIELDS)
    done = await run_in_threadpool(mail.retry, st.db, actor.email, row_id)
    await after_commit(st, done.revision)
    return JSONResponse(done.answer)


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
