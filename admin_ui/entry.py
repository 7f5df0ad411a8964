"""The way in: log in and out, request an account (R5, R6), activate it (R8).

Log-in makes the same server-side session as ``POST /v1/session`` (same service function, same cookie), so the
JSON API and the UI share it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.web import (
    ENROL,
    FormError,
    flash,
    form,
    is_https,
    local_path,
    message,
    redirect,
    render,
    route,
    secret_field,
    text_field,
)
from authz import values
from authz.actor import Actor
from authz.cache.throttle import TooManyAttempts
from authz.errors import AuthzError, Invalid
from authz.identity import SESSION_COOKIE, client_address, close_session, must_enrol, open_session
from authz.service import accounts, members, passwords
from authz.service.commit import after_commit
from authz.state import state


def _token(request: Request) -> str:
    return values.link_token(request.path_params["token"])


def home_of(actor_roles: frozenset[str], org: str | None) -> str:
    if "beheerder" in actor_roles and org is not None:
        return "/toegangsrechten"
    if "operator" in actor_roles:
        return "/operator/aanvragen"
    if org is not None:
        return "/producten"  # R16: the gebruiker's home is Mijn producten
    return "/account"


async def home(request: Request) -> Response:
    actor = await guard.who(request)
    if actor is None:
        return redirect("/inloggen")
    if must_enrol(request, actor):
        return redirect(ENROL)
    return redirect(home_of(actor.roles, actor.org))


def _login_page(request: Request, email: str = "", next_: str = "", error: str | None = None,
                status: int = 200, half: str | None = None) -> Response:
    """The log-in form; with ``half`` (the password was right, and the account has a second factor: R17) the second
    step, which asks for the code and carries the half-login token of :mod:`authz.service.halflogin` in a hidden
    field: sealed, bound to the account, valid for minutes and for one log-in, never the password."""
    return render(request, "login.html", {"title": "Inloggen", "email": email, "next": next_, "error": error,
                                          "half": half}, status)


async def login_form(request: Request) -> Response:
    return _login_page(request, next_=local_path(request.query_params.get("volgende"), ""))


async def login(request: Request) -> Response:
    """Both steps post here: e-mail and password; then (R17) e-mail, the half-login token and the code."""
    st = state(request)
    data = await form(request)
    given = data.get("email")
    email = given.strip() if isinstance(given, str) else ""  # as typed, to show again: read by values.email
    next_ = local_path(text_field(data, "volgende", required=False, max_len=2000), "")
    half = data.get("login")
    step_two = isinstance(half, str) and bool(half)
    previous = request.cookies.get(SESSION_COOKIE)
    done: tuple[str, Actor] | accounts.HalfLogin
    try:
        address = values.email(email, "email")  # before the throttle counts it: a NUL would reach its store
        if step_two:
            token = text_field(data, "login", max_len=1000)
            try:
                otp = values.text(64)(data.get("otp"), "otp")
            except Invalid:  # no code, or not one: the second step again, nothing counted
                return _login_page(request, email, next_, texts.ERRORS["mfa_required"], 401, token)
            done = await run_in_threadpool(lambda: accounts.login_code(
                st.db, st.sessions, st.throttle, address, token, otp, client_address(request), previous,
                secret_key=st.settings.secret_key))
        else:
            password = secret_field(data, "password")
            done = await run_in_threadpool(lambda: accounts.login_password(
                st.db, st.sessions, st.throttle, address, password, client_address(request), previous,
                secret_key=st.settings.secret_key))
    except AuthzError as exc:
        # A wrong code keeps the second step (and its token); any other refusal starts again from the password.
        again = half if step_two and exc.code == "invalid_otp" and isinstance(half, str) else None
        return _login_page(request, email, next_, message(exc), 401 if exc.status == 401 else exc.status, again)
    if isinstance(done, accounts.HalfLogin):
        return _login_page(request, email, next_, None, 401, done.token)
    session, actor = done
    if must_enrol(request, actor):
        next_ = ENROL
    resp = redirect(next_ or home_of(actor.roles, actor.org))
    open_session(resp, session, st.settings.session_absolute_seconds, is_https(request))
    return resp


async def logout(request: Request) -> Response:
    actor = await guard.who(request)
    if actor is not None:
        await run_in_threadpool(accounts.logout, state(request).sessions, actor)
    resp = redirect("/inloggen")
    close_session(resp, is_https(request))
    return flash(request, resp, "U bent uitgelogd.")


def new_password(data: FormData) -> str:
    """The password chosen in a form with a repeat field (the strength rule itself is the service's)."""
    password = secret_field(data, "password")
    if password != data.get("password2"):
        raise FormError("password_mismatch", texts.ERRORS["password_mismatch"])
    return password


_REGISTER_FIELDS = ("name", "email", "kvk", "organisation_name")


async def register_form(request: Request) -> Response:
    return render(request, "register.html", {"title": "Account aanvragen", "done": None,
                                             "values": dict.fromkeys(_REGISTER_FIELDS, ""), "bad": ""})


async def register(request: Request) -> Response:
    st = state(request)
    data = await form(request)
    given = {k: text_field(data, k, required=False, max_len=254) for k in _REGISTER_FIELDS}
    # A KvK number as people copy it ("1234 5678", "12.345.678") is its 8 digits; only the portal's form is this
    # lenient: the API takes exactly 8 digits, as the contract says.
    given["kvk"] = given["kvk"].replace(" ", "").replace(".", "")
    bad = ""
    try:
        for required in ("email", "kvk"):
            if not given[required]:
                bad = required
                raise FormError("missing_field", texts.missing(required))
        bad = "password"
        password = new_password(data)
        bad = "kvk"
        if not values.KVK_RE.fullmatch(given["kvk"]):  # ASCII digits only: '１１１１１１１１' is no KvK number
            raise Invalid("invalid_kvk", "A KvK number has 8 digits.")
        reg = accounts.Registration(email=given["email"], password=password, kvk=given["kvk"],
                                    organisation_name=given["organisation_name"] or None, name=given["name"])
        status = await run_in_threadpool(accounts.register, st.db, st.settings, reg, st.throttle,
                                         client_address(request))
    except AuthzError as exc:
        field = bad if isinstance(exc, FormError) or exc.code == "invalid_kvk" else texts.REGISTER_FIELD_OF.get(
            exc.code, "")
        said = message(exc) if isinstance(exc, FormError) else texts.about_field(field, message(exc))
        page = render(request, "register.html", {"title": "Account aanvragen", "done": None, "values": given,
                                                 "error": said, "bad": field}, exc.status)
        if isinstance(exc, TooManyAttempts):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    await after_commit(st)
    return render(request, "register.html", {"title": "Aanvraag ontvangen", "done": status, "values": given,
                                             "bad": ""})


async def activate_form(request: Request) -> Response:
    token = _token(request)
    link = await run_in_threadpool(accounts.activation_state, state(request).db, token)
    title = "Uw account is al actief" if link == "active" else "Account activeren"
    return render(request, "activate.html", {"title": title, "token": token, "active": link == "active"})


async def activate(request: Request) -> Response:
    st = state(request)
    token = _token(request)
    if await run_in_threadpool(accounts.activation_state, st.db, token) == "active":
        return render(request, "activate.html", {"title": "Uw account is al actief", "token": token, "active": True})
    email = await run_in_threadpool(accounts.activate, st.db, token)
    await after_commit(st)
    resp = redirect("/inloggen")
    return flash(request, resp, f"Uw account {email} is geactiveerd. U kunt nu inloggen.")


# -- invitation (R7) -------------------------------------------------------------------------------------------

def _invitation_page(request: Request, token: str, error: str | None = None, status: int = 200) -> Response:
    info = members.invitation_info(state(request).db, token)
    return render(request, "invitation.html", {"title": "Uitnodiging", "info": info, "token": token,
                                               "done": None, "error": error}, status)


async def invitation_form(request: Request) -> Response:
    return await run_in_threadpool(_invitation_page, request, _token(request))


async def accept_invitation(request: Request) -> Response:
    st = state(request)
    token = _token(request)
    data = await form(request)
    try:
        password = new_password(data)
        name = text_field(data, "name", required=False, max_len=200)
        status = await run_in_threadpool(members.accept_invitation, st.db, st.settings, token, password, name)
    except AuthzError as exc:
        if exc.status in (404, 409, 410):
            raise
        return await run_in_threadpool(_invitation_page, request, token, message(exc), exc.status)
    await after_commit(st)
    return render(request, "invitation.html", {"title": "Account aangemaakt", "info": None, "token": token,
                                               "done": status})


# -- forgotten password -----------------------------------------------------------------------------------------

async def forgot_form(request: Request) -> Response:
    return render(request, "forgot.html", {"title": "Wachtwoord vergeten", "done": False})


async def forgot(request: Request) -> Response:
    st = state(request)
    email = text_field(await form(request), "email")
    await run_in_threadpool(passwords.request_password_reset, st.db, st.settings, email, st.throttle,
                            client_address(request))
    await after_commit(st)
    # The same answer for every address: it tells nobody which accounts exist.
    return render(request, "forgot.html", {"title": "Wachtwoord vergeten", "done": True})


async def reset_form(request: Request) -> Response:
    return render(request, "reset.html", {"title": "Nieuw wachtwoord", "token": _token(request)})


async def reset(request: Request) -> Response:
    st = state(request)
    token = _token(request)
    data = await form(request)
    try:
        email = await run_in_threadpool(passwords.reset_password, st.db, st.sessions, token, new_password(data))
    except AuthzError as exc:
        if exc.status != 422:
            raise
        return render(request, "reset.html", {"title": "Nieuw wachtwoord", "token": token, "error": message(exc)},
                      exc.status)
    await after_commit(st)
    return flash(request, redirect("/inloggen"), f"Het wachtwoord van {email} is gewijzigd. U kunt nu inloggen.")


routes = [
    route("/", home),
    route("/inloggen", login_form),
    route("/inloggen", login, "POST"),
    route("/uitloggen", logout, "POST"),
    route("/account-aanvragen", register_form),
    route("/account-aanvragen", register, "POST"),
    route("/activeren/{token}", activate_form),
    route("/activeren/{token}", activate, "POST"),
    route("/uitnodiging/{token}", invitation_form),
    route("/uitnodiging/{token}", accept_invitation, "POST"),
    route("/wachtwoord-vergeten", forgot_form),
    route("/wachtwoord-vergeten", forgot, "POST"),
    route("/wachtwoord-herstellen/{token}", reset_form),
    route("/wachtwoord-herstellen/{token}", reset, "POST"),
]
