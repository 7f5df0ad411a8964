"""Mijn account: the logged-in person's own account, and changing its password."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard
from admin_ui.entry import new_password
from admin_ui.web import flash, form, message, redirect, render, route, secret_field
from authz.api.auth import state
from authz.errors import AuthzError
from authz.service import passwords


async def account_page(request: Request) -> Response:
    actor = await guard.member(request)
    return render(request, "account.html", {**guard.frame(actor, "account", "Mijn account")})


async def change_password(request: Request) -> Response:
    actor = await guard.member(request)
    st = state(request)
    data = await form(request)
    try:
        await run_in_threadpool(passwords.change_password, st.db, st.sessions, actor,
                                secret_field(data, "old_password"), new_password(data))
    except AuthzError as exc:
        if exc.status not in (403, 422):
            raise
        return render(request, "account.html", {**guard.frame(actor, "account", "Mijn account"),
                                                "error": message(exc)}, exc.status)
    await guard.committed(st)
    return flash(request, redirect("/account"), "Uw wachtwoord is gewijzigd. U bent op uw andere apparaten "
                                                "uitgelogd en u krijgt hierover een e-mail.")


routes = [
    route("/account", account_page),
    route("/account/wachtwoord", change_password, "POST"),
]
