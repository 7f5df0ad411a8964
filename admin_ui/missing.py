"""An address the site does not have, asked by a browser: the portal's Dutch 404 page instead of the JSON error.

One route, last of all (:func:`admin_ui.routes`): it matches only what no route before it answers, only a GET or
HEAD that asks for HTML, and never under ``/v1/`` or ``/access/`` (those are the JSON contract: their clients keep
the JSON 404). A path that exists for another method (a button's POST address typed in) answers 405, also as a page.
What a route or mount refuses itself (a missing file under ``/static``, a POST to a page's address) reaches the
app's handler of HTTP errors, which answers a browser with :data:`answer`, the same page.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from admin_ui import guard, texts
from admin_ui.web import page, render

JSON_PREFIXES = ("/v1/", "/access/", "/.well-known/")


def wants_page(scope: Scope) -> bool:
    """A browser's GET or HEAD for HTML, outside the JSON API."""
    return scope["type"] == "http" and scope["method"] in {"GET", "HEAD"} and asks_for_html(scope)


def asks_for_html(scope: Scope) -> bool:
    """A browser's request (it accepts HTML), by any method, outside the JSON API."""
    if scope["type"] != "http":
        return False
    path: str = scope["path"]
    if path.startswith(JSON_PREFIXES) or path in {"/v1", "/access"}:
        return False
    accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1").lower()
    return "text/html" in accept


def _methods_elsewhere(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, NotFoundPage):
            continue
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


async def not_found(request: Request) -> Response:
    actor = await guard.who(request)
    frame = guard.frame(actor, "", texts.ERROR_TITLES[404]) if actor is not None else {}
    allowed = _methods_elsewhere(request)
    if allowed:
        response = render(request, "error.html", {**frame, "title": texts.ERROR_TITLES[405],
                                                  "error": texts.METHOD_NOT_ALLOWED, "onward": None}, status=405)
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return render(request, "error.html", {**frame, "title": texts.ERROR_TITLES[404], "error": texts.PAGE_NOT_FOUND,
                                          "onward": None}, status=404)


# The 404 or 405 page for what a route or mount refused (the app's handler of HTTP errors; any method, so no CSRF
# check: the page changes nothing).
answer = page(not_found, csrf=False)


class NotFoundPage(BaseRoute):
    """Matches a browser's request for a page that no other route answered (see the module's docstring)."""

    def __init__(self) -> None:
        self.endpoint = page(not_found)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return (Match.FULL, {}) if wants_page(scope) else (Match.NONE, {})

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)
