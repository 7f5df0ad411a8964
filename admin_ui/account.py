"""Mijn account: the logged-in person's own account, and changing its password."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard
from admin_ui.entry import new_password
from admin_ui.web import flash, form, message, redirect, render, route, secret_field
from authz.cache.throttle import TooManyAttempts
from authz.errors import AuthzError
from authz.identity import client_address
from authz.service import passwords
from authz.service.commit import after_commit
from authz.state import state


async def account_page(request: Request) -> Response:
    actor = await guard.member(request)
    return render(request, "account.html", {**guard.frame(actor, "account", "Mijn account")})


async def change_password(request: Request) -> Response:
    actor = await guard.member(request)
    st = state(request)
    data = await form(request)
    try:
        old, new = secret_field(data, "old_password"), new_password(data)
        # Guesses of the old password count as failed log-ins, as in the API: a stolen session must not become a
        # way to try passwords unthrottled.
        address = client_address(request)
        await run_in_threadpool(lambda: passwords.change_password(st.db, st.sessions, actor, old, new,
                                                                  throttle=st.throttle, address=address))
    except AuthzError as exc:
        if exc.status not in (403, 422, 429):
            raise
        page = render(request, "account.html", {**guard.frame(actor, "account", "Mijn account"),
                                                "error": message(exc)}, exc.status)
        if isinstance(exc, TooManyAttempts):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    await after_commit(st)
    return flash(request, redirect("/account"), "Uw wachtwoord is gewijzigd. U bent op uw andere apparaten "
                                                "uitgelogd en u krijgt hierover een e-mail.")


routes = [
    route("/account", account_page),
    route("/account/wachtwoord", change_password, "POST"),
]
