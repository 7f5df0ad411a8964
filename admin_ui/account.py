"""Mijn account: the logged-in person's own account, changing its password, and its second factor (R17): set it
up (a QR code and the secret, confirmed with a code; then the recovery codes, shown once) or remove it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import segno
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard
from admin_ui.entry import new_password
from admin_ui.web import ENROL, attempt, flash, form, message, redirect, render, route, secret_field, text_field
from authz.actor import Actor
from authz.cache.throttle import TooManyAttempts
from authz.errors import AuthzError
from authz.identity import client_address
from authz.service import mfa, passwords
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


# -- the second factor (R17) --------------------------------------------------------------------------------------

def _qr_svg(uri: str) -> Markup:
    """The otpauth URI as a QR code in inline SVG: made here (no external service, no image request), and
    without style attributes or scripts, so the pages' CSP (no inline style or script) holds."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, light="#fff", dark="#000",
                                                  title="QR-code voor uw authenticator-app")
    return Markup(svg)  # noqa: S704 - segno's own output: the URI it encodes is ours, not the user's


def _factor_page(request: Request, actor: Actor, status: int = 200, **extra: Any) -> Response:
    st = state(request)
    return render(request, "mfa.html", {**guard.frame(actor, "account", "Tweede factor"),
                                        "mfa": mfa.status(st.db, st.settings, actor), "enrolment": None,
                                        "codes": None, **extra}, status)


async def factor_page(request: Request) -> Response:
    actor = await guard.enrolling(request)
    return await run_in_threadpool(_factor_page, request, actor)


async def factor_start(request: Request) -> Response:
    actor = await guard.enrolling(request)
    st = state(request)
    try:
        enrolment = await run_in_threadpool(mfa.start, st.db, st.settings, actor)
    except AuthzError as exc:
        if exc.status != 409:
            raise
        return flash(request, redirect(ENROL), message(exc), "error")
    await after_commit(st)
    return await run_in_threadpool(lambda: _factor_page(request, actor, enrolment=enrolment,
                                                        qr=_qr_svg(enrolment["otpauth_uri"])))


async def factor_confirm(request: Request) -> Response:
    actor = await guard.enrolling(request)
    st = state(request)
    otp = text_field(await form(request), "otp", max_len=64)
    try:
        codes = await run_in_threadpool(mfa.confirm, st.db, st.settings, st.sessions, actor, otp)
    except AuthzError as exc:
        if exc.status not in (403, 409):
            raise
        return flash(request, redirect(ENROL), message(exc), "error")
    await after_commit(st)
    return await run_in_threadpool(lambda: _factor_page(request, replace(actor, mfa=True), codes=codes))


async def factor_disable(request: Request) -> Response:
    actor = await guard.member(request)
    st = state(request)
    otp = text_field(await form(request), "otp", max_len=64)
    address = client_address(request)
    return await attempt(request, ENROL,
                         lambda: mfa.disable(st.db, st.settings, st.throttle, actor, otp, address),
                         lambda _: "Uw tweede factor is verwijderd. U krijgt hierover een e-mail.")


routes = [
    route("/account", account_page),
    route("/account/wachtwoord", change_password, "POST"),
    route(ENROL, factor_page),
    route(f"{ENROL}/instellen", factor_start, "POST"),
    route(f"{ENROL}/bevestigen", factor_confirm, "POST"),
    route(f"{ENROL}/verwijderen", factor_disable, "POST"),
]
