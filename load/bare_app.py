"""The baseline of the benchmark: a bare Starlette route that parses the same JSON as /v1/check (with the same
``read_json``) and answers a constant. Served the same way as the service (see load/serve.py)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from authz.api.http import JSONResponse, read_json

ANSWER = {"allowed": True, "reason": "granted", "afnemers": ["80000000"], "revision": 1}


async def check(request: Request) -> JSONResponse:
    await read_json(request)
    return JSONResponse(ANSWER)


async def readyz(request: Request) -> JSONResponse:
    return JSONResponse({"ready": True})


def create_app() -> Starlette:
    return Starlette(routes=[Route("/v1/check", check, methods=["POST"]), Route("/readyz", readyz)])
