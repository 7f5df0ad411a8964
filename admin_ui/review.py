"""Review screens on the policy tools: one user's history for a beheerder, and for the operator the policy file
(download) and the lint findings. The work is :mod:`authz.policyfile`'s; these views only check and display."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.web import render, route
from authz import values
from authz.policyfile import export, lint
from authz.service import audit, users
from authz.state import state

SEVERITY = {"error": "fout", "warning": "waarschuwing", "info": "ter informatie"}


async def user_history(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "audit.read")
    email = values.email(request.path_params["email"], "email")
    st = state(request)
    entries = await run_in_threadpool(audit.user_history, st.db, org, email)
    person = await run_in_threadpool(users.person, st.db, actor.email, org, email)  # 404 outside the organisation
    who = person.name or person.email
    return render(request, "history.html", {**guard.frame(actor, "rechten", f"Geschiedenis van {who}"),
                                            "who": who, "entries": entries,
                                            "back": f"/toegangsrechten/{quote(email)}"})


async def findings(request: Request) -> Response:
    actor = await guard.operator(request, "operator.audit")
    st = state(request)
    found = await run_in_threadpool(lint.explained, st.db, st.clock.today())
    return render(request, "op_lint.html", {**guard.frame(actor, "op-controle", "Controle van de rechten"),
                                            "findings": found, "severity": SEVERITY, "kinds": texts.FINDINGS,
                                            "ending_days": lint.ENDING_DAYS})


async def download(request: Request) -> Response:
    """The policy file (``authz policy export``): the whole state, or one organisation's with ``?kvk=``."""
    await guard.operator(request, "operator.audit")
    raw = request.query_params.get("kvk")
    org = values.kvk(raw, "kvk") if raw else None
    text = await run_in_threadpool(export.export_yaml, state(request).db, org)
    name = f"toegangsrechten-{org}.yaml" if org else "toegangsrechten.yaml"
    return Response(text, media_type="application/yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


routes = [
    route("/toegangsrechten/{email}/geschiedenis", user_history),
    route("/operator/controle", findings),
    route("/operator/export", download),
]
