"""The operator's view of the outbox: e-mails that exhausted their retries (``dead``) and retrying them.

``authz/api/outbox.py → authz/service/mail.py → authz/store/outbox.py → SQL``, as the portal would.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from authz.api.accounts import optional_body, path_id
from authz.api.http import JSONResponse
from authz.api.openapi import describe, obj
from authz.errors import Invalid
from authz.identity import require_operator
from authz.service import mail
from authz.service.commit import after_commit
from authz.service.mail import STATUSES
from authz.state import state
from authz.values import whole_number

MAX_LIMIT = 500


async def listing(request: Request) -> JSONResponse:
    await require_operator(request, "operator.mail")
    q = request.query_params
    unknown = sorted(set(q) - {"status", "cursor", "limit"})
    if unknown:
        raise Invalid("unknown_parameter", f"Unknown query parameter(s): {', '.join(unknown)}.")
    status = q.get("status", "dead")
    if status not in STATUSES:
        raise Invalid("invalid_status", f"'status' is one of {', '.join(STATUSES)}.")
    limit, cursor = q.get("limit", "100"), q.get("cursor")
    size, after = whole_number(limit), whole_number(cursor)
    if size is None or not 1 <= size <= MAX_LIMIT:
        raise Invalid("invalid_limit", f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
    if cursor is not None and after is None:
        raise Invalid("invalid_cursor", "The cursor is not one this service gave out.")
    found = await run_in_threadpool(mail.listing, state(request).db, status, size, after)
    return JSONResponse({"mails": found.items, "cursor": found.cursor})


async def retry(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mail")
    st = state(request)
    row_id = path_id(request, "mail", "No such e-mail.")
    await optional_body(request, {})
    done = await run_in_threadpool(mail.retry, st.db, actor.email, row_id)
    await after_commit(st, done.revision)
    return JSONResponse(done.answer)


routes = [
    Route("/v1/operator/mail", listing, methods=["GET"]),
    Route("/v1/operator/mail/{id}/retry", retry, methods=["POST"]),
]

_S = {"type": "string"}
_MAIL = obj(["id", "to", "subject", "status", "attempts", "created_at", "last_error", "next_attempt_at"],
            id={"type": "integer"}, to=_S, subject=_S, status={"enum": list(STATUSES)}, attempts={"type": "integer"},
            created_at=_S, last_error={"type": ["string", "null"]}, next_attempt_at=_S)
describe("get", "/v1/operator/mail", "E-mails in the outbox by status (default 'dead': given up after their "
         "retries), newest first, without their bodies.", auth="session",
         query={"status": {"enum": list(STATUSES)}, "cursor": _S,
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
         response=obj(["mails", "cursor"], mails={"type": "array", "items": _MAIL},
                      cursor={"type": ["string", "null"]}))
describe("post", "/v1/operator/mail/{id}/retry", "Try a dead e-mail again now, with a fresh count of attempts "
         "(409 when it is not dead).", auth="session",
         response=obj(["id", "status"], id={"type": "integer"}, status={"const": "pending"}))
