"""The app factory: ``uvicorn --factory authz.app:create_app``. Nothing is built at import time."""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp

import admin_ui
from admin_ui import missing
from admin_ui.missing import asks_for_html
from admin_ui.web import refused_page
from authz.api import accounts, admin, authzen, decisionlog, decisions, explain, members, operator, outbox, review
from authz.api.checklane import CheckLane
from authz.api.http import Confirmed, JSONResponse, JsonWrites, RequestIds, error_response, internal_error
from authz.bus import make_bus
from authz.cache.sessions import make_sessions
from authz.cache.snapshot import SnapshotCache
from authz.cache.throttle import make_throttle
from authz.clock import Clock
from authz.config import Settings
from authz.decider import Decider
from authz.decisionlog import DecisionLog
from authz.errors import AuthzError, Unauthorized, Unavailable
from authz.mail import Mailer
from authz.metrics import Metrics
from authz.state import State, state
from authz.store.db import Database
from authz.store.faults import DatabaseDown
from authz.sync import Sync

log = logging.getLogger(__name__)

async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    st = state(request)
    sync = st.sync
    now = time.monotonic()
    ready = st.decider.revision >= 0 and sync.current()
    f = sync.confirmations.figures
    body = {"ready": ready, "revision": st.decider.revision, "known_revision": sync.known_revision,
            # R11: this instance answers decisions only while its lease runs (authz.sync).
            "lease": {"held": sync.current(), "seconds_left": round(max(sync.vouch_until - now, 0.0), 3),
                      "renewed_seconds_ago": round(now - sync.renewed_at, 3) if sync.renewed_at else None,
                      "seconds": sync.lease_seconds, "instance": sync.instance},
            "saves": {"total": f.saves, "waited": f.waited, "unconfirmed": f.unconfirmed},
            "decision_log": st.decisions.figures(),
            "announcements": sync.bus.name, "announcements_live": sync.bus.live(2.0), "error": sync.last_error,
            # Wall-clock times, for measuring propagation between instances (load/propagation.py).
            "applied_at": sync.applied_at, "last_commit": sync.last_commit}
    return JSONResponse(body, status_code=200 if ready else 503)


def _may_read_metrics(request: Request, token: str | None) -> bool:
    if token is None:
        return True
    sent = request.headers.get("authorization", "")
    # compared in constant time: how long a refusal takes tells nothing of how much of the token was right
    return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


async def metrics(request: Request) -> Response:
    st = state(request)
    if not _may_read_metrics(request, st.settings.metrics_token):
        raise Unauthorized("unauthorized", "/metrics needs Authorization: Bearer <AUTHZ_METRICS_TOKEN>.")
    gauges = {f"authz_index_{k}": float(v) for k, v in st.decider.stats().items()}
    extra = st.sync.samples() + st.decisions.samples()
    try:  # the lag against SQL itself, not against what this instance last heard
        sql = await run_in_threadpool(st.db.revision)
        extra += [("authz_revision_sql", "gauge", sql, "The newest revision in SQL."),
                  ("authz_revision_lag", "gauge", max(sql - st.decider.revision, 0),
                   "Revisions committed in SQL that this instance has not applied.")]
    except DatabaseDown as exc:
        log.warning("metrics: SQL revision unknown: %s", exc)
    text = st.metrics.render(gauges, extra) + "\n".join(st.sync.histogram()) + "\n"
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


async def _authz_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthzError)
    resp = error_response(exc)
    resp.headers.update(getattr(exc, "headers", {}))  # e.g. Retry-After of a 429
    return resp


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in {404, 405} and asks_for_html(request.scope):
        # a browser asking for a file or page that is not there, or a page's address with a button's method
        return await missing.answer(request)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    message = {404: "No such resource.", 405: "That method is not allowed here."}.get(exc.status_code, str(exc.detail))
    resp = JSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code)
    if exc.headers:
        resp.headers.update(exc.headers)
    if exc.status_code == 405:  # Starlette names the first route of the path only; the path may have more
        resp.headers["Allow"] = ", ".join(_methods_at(request))
    return resp


def _route_of(request: Request) -> str:
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            return route.path
    return "(no route)"


def _methods_at(request: Request) -> list[str]:
    """Every method some route answers at the request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return sorted(methods)


async def _db_down(request: Request, exc: Exception) -> Response:
    log.error("database error: %s", exc)
    return error_response(Unavailable("database_unavailable", "The database cannot be reached; try again."))


async def _server_error(request: Request, exc: Exception) -> Response:
    # The route's template, not the path: a path may carry a link's token (/activeren/<token>).
    log.exception("unhandled error on %s %s", request.method, _route_of(request))
    return internal_error()


def all_routes() -> list[BaseRoute]:
    from authz.api import openapi
    from authz.api.openapi import Operation

    routes: list[BaseRoute] = [
        Operation("GET", "/healthz", healthz, "healthz", "The process is up.", tag="health", sql=False),
        Operation("GET", "/readyz", readyz, "readyz", "The instance has a confirmed, current revision (503, with "
                  "the same fields, otherwise).", tag="health", sql=False),
        Operation("GET", "/metrics", metrics, "metrics", "Prometheus metrics of this instance (with "
                  "AUTHZ_METRICS_TOKEN set: Authorization: Bearer <token>).", tag="health", sql=False,
                  errors={401: ["unauthorized"]}),
        *decisions.routes,
        *authzen.routes,
    ]
    routes += [*explain.routes, *accounts.routes, *operator.routes, *admin.routes, *review.routes, *members.routes,
               *outbox.routes, *decisionlog.routes]
    routes.append(Route("/openapi.json", openapi.endpoint, methods=["GET"]))
    return routes


class AuthzApp(Starlette):
    """The app, holding its instance's :class:`State` as a plain attribute: the decision path reads it on every
    request, and Starlette's ``app.state`` goes through ``__getattr__``."""

    authz: State

    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's own error handling, so that a 500 carries its X-Request-ID too and the line that
        # logs it names the request; the fast lane of /v1/check in front of everything (authz.api.checklane).
        ids = RequestIds(super().build_middleware_stack())
        return CheckLane(ids, ids.new_id)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    clock = clock or Clock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url, clock)
        metrics_ = Metrics()
        decider = Decider(clock)
        bus = make_bus(settings.redis_url, settings.redis_prefix, settings.secret_key)
        cache = SnapshotCache(settings.redis_url, settings.redis_prefix, settings.secret_key) \
            if settings.redis_url and settings.snapshot_cache else None
        sync = Sync(db, decider, metrics_, settings.lease_seconds, bus, cache, settings.snapshot_refresh)
        mailer = Mailer(db, settings)
        decision_log = DecisionLog(db, clock, settings.decision_log_dir, settings.decision_log_days,
                                   settings.decision_log_backlog, enabled=settings.decision_log)
        st = State(settings=settings, clock=clock, db=db, decider=decider, sync=sync, metrics=metrics_,
                   sessions=make_sessions(settings, db), throttle=make_throttle(settings, db),
                   decisions=decision_log, mailer=mailer)
        app.state.authz = st
        assert isinstance(app, AuthzApp)
        app.authz = st
        decision_log.start()
        await sync.start()
        await mailer.start()
        try:
            yield
        finally:
            await mailer.stop()
            await sync.stop()
            await run_in_threadpool(decision_log.stop)  # ships what is left
            db.dispose()

    return AuthzApp(
        routes=[*all_routes(), *admin_ui.routes()],  # the portal's HTML pages, after the JSON API
        lifespan=lifespan,
        middleware=[Middleware(Confirmed), Middleware(JsonWrites, base_url=settings.base_url, page=refused_page)],
        exception_handlers={
            AuthzError: _authz_error,
            HTTPException: _http_error,
            DatabaseDown: _db_down,
            Exception: _server_error,
        },
    )
