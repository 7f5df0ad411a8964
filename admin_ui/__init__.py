"""The admin UI: the manual's portal screens in Dutch, server-rendered on the same service layer as the JSON API.

``admin_ui/<screen>.py → authz/service/*.py → authz/store/*.py → SQL``: views compute, templates display, and every
view checks the permission first through :mod:`admin_ui.guard` (the checks of :mod:`authz.identity`, as the JSON
API's). :mod:`admin_ui.web` holds the plumbing: CSRF, security headers, errors as pages.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"


def routes() -> list[BaseRoute]:
    """Every UI route, the static files under /static and, last, the Dutch 404 page for browsers; mounted by
    :func:`authz.app.create_app` after the JSON API."""
    from admin_ui import account, decisions, entry, logbook, members, mine, operator, org, review, rights
    from admin_ui.missing import NotFoundPage

    return [*entry.routes, *rights.routes, *org.routes, *members.routes, *review.routes, *logbook.routes,
            *operator.routes, *decisions.routes, *account.routes, *mine.routes,
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
            NotFoundPage()]  # last: a browser's page that no route above answers
