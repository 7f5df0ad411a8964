"""The service as `authz serve` builds it, plus ``gc.freeze()`` once the index is loaded: the benchmark measures
whether moving the loaded index out of the garbage collector's reach helps the p99 (a candidate change to
authz/sync.py's reload, measured here instead of made there)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from authz.app import create_app as create_service


def create_app() -> Starlette:
    app = create_service()
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Starlette) -> AsyncIterator[None]:
        async with inner(a):
            gc.collect()
            gc.freeze()
            yield

    app.router.lifespan_context = lifespan
    return app
