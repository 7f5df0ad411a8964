"""Shared pieces of the HTTP edge: JSON in and out, input validation, the error shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise UnsupportedMedia("unsupported_media_type", "Send the body as Content-Type: application/json.")
    declared = request.headers.get("content-length")
    size_declared = whole_number(declared)
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


@dataclass(frozen=True)
class Field:
    parse: Callable[[Any, str], Any]
    required: bool = True
    nullable: bool = False


def fields(body: Mapping[str, Any], spec: Mapping[str, Field]) -> dict[str, Any]:
    """Validate ``body`` against ``spec``: unknown fields, missing fields and wrong values are refused (422)."""
    unknown = sorted(set(body) - set(spec))
    if unknown:
        raise Invalid("unknown_field", f"Unknown field(s): {', '.join(unknown)}.")
    out: dict[str, Any] = {}
    for name, f in spec.items():
        if name not in body:
            if f.required:
                raise Invalid("missing_field", f"The field '{name}' is required.")
            continue
        value = body[name]
        out[name] = None if value is None and f.nullable else f.parse(value, name)
    return out
