"""The UI's plumbing: templates, the page wrapper (security headers, CSRF, errors as pages), flash messages, forms.

Every UI endpoint is wrapped by :func:`page`. It checks the CSRF token of every POST before the view runs (so a
forged or stale form changes nothing), turns the service layer's exceptions into Dutch pages (401 → the log-in
page), and sets the security headers on every answer.

CSRF: a random, HttpOnly, SameSite=Strict cookie (``authz_csrf``) seeds the token; the token in a form is an HMAC
of that seed and the session cookie, keyed with the secret key. It is therefore per session (a new log-in makes a
new one) and cannot be computed by another site, which can neither read nor set our cookies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from admin_ui import texts
from authz import values
from authz.errors import AuthzError, Forbidden, Invalid, Unauthorized
from authz.identity import SESSION_COOKIE
from authz.messages import one_stop
from authz.service.commit import after_commit
from authz.state import State, state

log = logging.getLogger(__name__)

CSRF_COOKIE = "authz_csrf"
CSRF_FIELD = "csrf"
FLASH_COOKIE = "authz_flash"
ENROL = "/account/tweede-factor"  # where an account that must have a second factor is led first (R17)
MAX_FIELDS = 500  # the largest form is a user's page: one checkbox per product of an afnemer

Endpoint = Callable[[Request], Awaitable[Response]]

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("admin_ui", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,  # a misspelt name fails a test instead of rendering as nothing
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["STATUS"] = texts.STATUS
_env.globals["ROLES"] = texts.ROLES
_env.filters["datum"] = texts.dutch_date  # "2 december 2026"
# A name ending a sentence: "… van Bakkerij B.V." with one full stop, not two (as the e-mails, authz.messages).
_env.filters["punt"] = lambda text: one_stop(f"{text}.")


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or state(request).settings.base_url.startswith("https://")


def _key(st: State, purpose: str) -> bytes:
    return hashlib.sha256(f"admin_ui:{purpose}:{st.settings.secret_key}".encode()).digest()


def _csrf_seed(request: Request) -> str:
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or len(seed) > 100:
        seed = getattr(request.state, "new_csrf_seed", None) or secrets.token_urlsafe(24)
        request.state.new_csrf_seed = seed
    return seed


def csrf_token(request: Request) -> str:
    session = request.cookies.get(SESSION_COOKIE, "")
    message = f"{_csrf_seed(request)}|{session}".encode()
    return hmac.new(_key(state(request), "csrf"), message, hashlib.sha256).hexdigest()


async def form(request: Request) -> FormData:
    """The POSTed form (read once; Starlette keeps it for the view)."""
    return await request.form(max_files=0, max_fields=MAX_FIELDS)


async def _check_csrf(request: Request) -> None:
    if CSRF_COOKIE not in request.cookies:
        raise Forbidden("csrf", texts.CSRF_FAILED)
    sent = (await form(request)).get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(request)):
        raise Forbidden("csrf", texts.CSRF_FAILED)


# -- flash messages: one message carried across a redirect, signed so nobody can plant one ------------------------

def flash(request: Request, response: Response, message: str, kind: str = "ok") -> Response:
    st = state(request)
    message = one_stop(message)  # a message ending on "… B.V." has one full stop
    raw = base64.urlsafe_b64encode(json.dumps({"m": message, "k": kind}).encode()).decode()
    sig = hmac.new(_key(st, "flash"), raw.encode(), hashlib.sha256).hexdigest()[:32]
    request.state.flash_set = True
    response.set_cookie(FLASH_COOKIE, f"{raw}.{sig}", max_age=120, path="/", httponly=True, samesite="strict",
                        secure=is_https(request))
    return response


def _take_flash(request: Request) -> dict[str, str] | None:
    value = request.cookies.get(FLASH_COOKIE)
    if not value or "." not in value:
        return None
    raw, _, sig = value.rpartition(".")
    good = hmac.new(_key(state(request), "flash"), raw.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(sig, good):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    request.state.flash_taken = True
    return {"message": str(data["m"]), "kind": str(data["k"])}


# -- rendering ----------------------------------------------------------------------------------------------------

def render(request: Request, template: str, context: Mapping[str, Any] | None = None, status: int = 200
           ) -> HTMLResponse:
    ctx = {"request": request, "csrf": csrf_token(request), "flash": _take_flash(request), "actor": None,
           "nav": None, "error": None}
    ctx.update(context or {})
    return HTMLResponse(_env.get_template(template).render(ctx), status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def local_path(value: str | None, default: str = "/") -> str:
    """Where to go after logging in, or back to: only a path of this site (never ``//host`` or a full URL: no open
    redirect). Blanks and control characters are refused too, since a browser drops a tab or line break from a URL
    and so would read a slash, a tab and ``/host`` as ``//host``."""
    if (not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in value)):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


class FormError(Invalid):
    """A form field the UI itself refuses; its message is already Dutch."""


def message(exc: AuthzError) -> str:
    """The Dutch text for an error of the service layer (its own text when there is no translation)."""
    if isinstance(exc, FormError):
        return exc.message
    return texts.ERRORS.get(exc.code, exc.message)


def text_field(data: FormData, name: str, *, required: bool = True, max_len: int = 254, lines: bool = False) -> str:
    """A free-text field by the API's own rule (:func:`authz.values.text`): trimmed, at most ``max_len`` characters,
    no control characters (line breaks only with ``lines``); "" when left empty and not ``required``."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        if required:
            raise FormError("missing_field", texts.missing(name))
        return ""
    if len(value.strip()) > max_len:
        raise FormError("invalid_field", texts.too_long(name, max_len))
    try:
        return values.text(max_len, 1, lines)(value, name)
    except Invalid:
        raise FormError("invalid_field", texts.control_characters(name)) from None


def secret_field(data: FormData, name: str) -> str:
    """A password as typed (never stripped)."""
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise FormError("missing_field", texts.missing(name))
    return value


# -- the wrapper --------------------------------------------------------------------------------------------------

def _security_headers(request: Request, response: Response) -> None:
    h = response.headers
    h["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
                                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    h["X-Content-Type-Options"] = "nosniff"
    # The links of e-mails carry tokens in their path: no other site gets a Referer. Not "no-referrer": under it a
    # browser sends "Origin: null" with the portal's own form posts, which the cross-site guard refuses.
    h["Referrer-Policy"] = "same-origin"
    h["X-Frame-Options"] = "DENY"
    h["Cache-Control"] = "no-store"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if is_https(request):
        h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


def error_page(request: Request, exc: AuthzError) -> Response:
    if isinstance(exc, Unauthorized):
        target = request.url.path if request.method == "GET" else "/"
        if request.url.query and request.method == "GET":
            target += "?" + request.url.query
        return redirect(f"/inloggen?volgende={quote(target, safe='/')}")
    # R17: an account that must set up a second factor is led to it from every page it may not see yet.
    onward = ENROL if exc.code == "mfa_enrolment_required" else None
    return render(request, "error.html", {"title": texts.ERROR_TITLES.get(exc.status, "Er ging iets mis"),
                                          "error": message(exc), "onward": onward}, status=exc.status)


def _finish(request: Request, response: Response) -> Response:
    """What every answer of the portal gets: the security headers, a new CSRF seed, a flash message used up."""
    _security_headers(request, response)
    seed = getattr(request.state, "new_csrf_seed", None)
    if seed is not None:
        response.set_cookie(CSRF_COOKIE, seed, path="/", httponly=True, samesite="strict",
                            secure=is_https(request))
    if getattr(request.state, "flash_taken", False) and not getattr(request.state, "flash_set", False):
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request))
    return response


def refused_page(request: Request, exc: AuthzError) -> Response:
    """The Dutch page for a write the service's guard refused before any view ran (another site's ``Origin``,
    :class:`authz.api.http.JsonWrites`): the portal's error page, with its headers."""
    text = texts.FOREIGN_ORIGIN if exc.code == "foreign_origin" else message(exc)
    response = render(request, "error.html", {"title": texts.ERROR_TITLES.get(exc.status, "Er ging iets mis"),
                                              "error": text, "onward": None}, status=exc.status)
    return _finish(request, response)


def page(view: Endpoint, *, csrf: bool = True) -> Endpoint:
    """Wrap a view: CSRF on POST (unless ``csrf`` is False: a page that changes nothing whatever the method, such
    as the 404 page), errors as pages, security headers and cookies on every answer."""

    async def endpoint(request: Request) -> Response:
        try:
            if csrf and request.method == "POST":
                await _check_csrf(request)
            response = await view(request)
        except AuthzError as exc:
            response = error_page(request, exc)
        return _finish(request, response)

    endpoint.__name__ = view.__name__
    endpoint.__doc__ = view.__doc__
    return endpoint


def route(path: str, view: Endpoint, method: str = "GET") -> Route:
    """A UI route: wrapped by :func:`page`, and left out of /openapi.json (HTML, not the JSON contract)."""
    return Route(path, page(view), methods=[method], include_in_schema=False)


async def attempt(request: Request, back: str, work: Callable[[], Any], done: Callable[[Any], str],
                  onward: str | None = None) -> Response:
    """Run a service call (in a thread); then to ``onward`` (default ``back``) with ``done(result)``, or back to
    ``back`` with the refusal. A 404 stays a 404 page: another organisation's id shows nothing of it."""
    try:
        result = await run_in_threadpool(work)
    except AuthzError as exc:
        if exc.status == 404:
            raise
        return flash(request, redirect(back), message(exc), "error")
    await after_commit(state(request), getattr(result, "revision", None))
    return flash(request, redirect(onward or back), done(result))
