"""The id of the request being answered, for every log line it causes: a context variable, set by the edge
(:class:`authz.api.http.RequestIds`) for the length of one request, and a logging filter that copies it onto each
record as ``request_id`` ("-" outside a request). It lives below the edges so that the use cases and the store can
read it too (:func:`current`) without importing HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar, Token

_CURRENT: ContextVar[str] = ContextVar("request_id", default="-")


def current() -> str:
    """The id of the request being answered, "-" outside one."""
    return _CURRENT.get()


# Make ``request_id`` the current one / undo that (the context variable's own methods: no call in between).
enter: Callable[[str], Token[str]] = _CURRENT.set
leave: Callable[[Token[str]], None] = _CURRENT.reset


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record that passes the handler it is installed on (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _CURRENT.get()
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def install(handlers: list[logging.Handler]) -> None:
    """Give each handler the filter (once), so that its format may name ``%(request_id)s`` (as :data:`FORMAT`)."""
    for handler in handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
