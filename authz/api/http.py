"""Shared pieces of the HTTP edge: JSON in and out, the error shape. What a body holds: :mod:`authz.api.shapes`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from authz.errors import AuthzError, Invalid
from authz.values import whole_number


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: AuthzError) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)


class BadRequestBody(AuthzError):
    status = 400


class TooLarge(AuthzError):
    status = 413


class UnsupportedMedia(AuthzError):
    status = 415


async def read_json(request: Request, max_bytes: int = 1_000_000) -> dict[str, Any]:
    """The request's JSON object; 415 unless the body is declared JSON, 413 when too large, 400 when not JSON."""
    ctype: bytes | None = None
    declared: bytes | None = None
    for key, value in request.scope["headers"]:  # one pass over the raw headers (names are lower case in ASGI)
        if key == b"content-type" and ctype is None:
            ctype = value
        elif key == b"content-length" and declared is None:
            declared = value
    if ctype != b"application/json" and (ctype or b"").split(b";")[0].strip().lower() != b"application/json":
        raise UnsupportedMedia("unsupported_media_type", "Send the body as Content-Type: application/json.")
    size_declared = whole_number(declared.decode("latin-1")) if declared is not None else None
    if size_declared is not None and size_declared > max_bytes:
        raise TooLarge("body_too_large", f"The body may be at most {max_bytes} bytes.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge("body_too_large", f"The body may be at most {max_bytes} bytes.")
        chunks.append(chunk)
    try:
        data = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise BadRequestBody("invalid_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    return data


